package wrapper

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// prSetChildSubreaper is prctl's PR_SET_CHILD_SUBREAPER (linux/prctl.h).
const prSetChildSubreaper = 36

// becomeSubreaper makes the wrapper adopt Terraform's orphaned descendants
// (a provider or local-exec whose parent died): they stay in its tree, where
// killTree finds them, instead of moving to init.
func becomeSubreaper() {
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
}

// prepare sets how Terraform is started. Own process group (CI): signals
// sent to the wrapper's group (or its pid, as actions/runner does) reach
// Terraform only through the wrapper, once; the whole group can be
// killed. On a terminal, Terraform shares the wrapper's foreground group
// so it can read prompts, and Ctrl-C / Ctrl-Z reach it from the terminal
// directly. Pdeathsig: if the wrapper dies, Terraform is killed.
func prepare(cmd *exec.Cmd, interactive bool) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: !interactive, Pdeathsig: syscall.SIGKILL}
}

// startLocked starts cmd on an OS thread locked for the child's whole
// life and waits for it there: Linux sends the parent-death signal when
// the thread that forked exits, and Go would otherwise end or reuse
// threads freely.
func startLocked(cmd *exec.Cmd, started chan<- error, done chan<- error) {
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		done <- cmd.Wait()
	}()
}

// signalTree sends sig to Terraform: its process group when it has one,
// else the process itself.
func signalTree(pid int, ownGroup bool, sig syscall.Signal) {
	if ownGroup {
		_ = syscall.Kill(-pid, sig)
		return
	}
	_ = syscall.Kill(pid, sig)
}

// killTree kills Terraform and its descendants: its group, then whatever
// escaped it (a new session, an orphan adopted by the subreaper), found
// through /proc below the wrapper when every child of this process is
// Terraform's (the CLI), else below Terraform.
func killTree(pid int, ownGroup, ownsChildren bool) {
	if ownGroup {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	root := pid
	if ownsChildren {
		root = os.Getpid()
	}
	for _, p := range descendants(root) {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
}

// descendants lists every process below root, from /proc's parent links.
func descendants(root int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], pid)
	}
	var out []int
	queue := []int{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// killLeftovers kills what Terraform left when it exited: its group (if it
// has one) and the wrapper's remaining descendants. Terraform itself has
// been reaped, so its pid is not signalled (it may be reused).
func killLeftovers(pid int, ownGroup, ownsChildren bool) {
	if ownGroup {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	if !ownsChildren {
		return
	}
	left := descendants(os.Getpid())
	for _, p := range left {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	// Reap the ones the subreaper adopted (exactly those: another child of
	// this process is not ours to wait for); ECHILD for the rest.
	for _, p := range left {
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(p, &ws, 0, nil)
	}
}

// IsTerminal reports whether fd is a terminal (not /dev/null, a pipe or a file).
func IsTerminal(fd uintptr) bool {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, uintptr(syscall.TCGETS), uintptr(unsafe.Pointer(&t)))
	return errno == 0
}
