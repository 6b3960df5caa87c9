//go:build unix && !linux

package wrapper

import (
	"os/exec"
	"syscall"
	"unsafe"
)

// Elsewhere than Linux there is no parent-death signal and no subreaper:
// Terraform runs in its own process group, which the fence and the end of
// the wrapper kill; a descendant that left the group is not found.
func becomeSubreaper() {}

func prepare(cmd *exec.Cmd, interactive bool) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: !interactive}
}

func startLocked(cmd *exec.Cmd, started chan<- error, done chan<- error) {
	go func() {
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		done <- cmd.Wait()
	}()
}

func signalTree(pid int, ownGroup bool, sig syscall.Signal) {
	if ownGroup {
		_ = syscall.Kill(-pid, sig)
		return
	}
	_ = syscall.Kill(pid, sig)
}

func killTree(pid int, ownGroup, _ bool) {
	if ownGroup {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// killLeftovers kills what Terraform left when it exited: its group (if it
// has one) and the wrapper's remaining descendants. Terraform itself has
// been reaped, so its pid is not signalled (it may be reused).
func killLeftovers(pid int, ownGroup, _ bool) {
	if ownGroup {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}

// IsTerminal reports whether fd is a terminal (not /dev/null, a pipe or a file).
func IsTerminal(fd uintptr) bool {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, uintptr(syscall.TIOCGETA), uintptr(unsafe.Pointer(&t)))
	return errno == 0
}
