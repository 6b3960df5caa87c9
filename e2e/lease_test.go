package e2e

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/text2agent/tfstate-guard/internal/reliability"
	"github.com/text2agent/tfstate-guard/lockcheck"
)

// Issue 18: tfstate-guard run takes the lock itself and keeps a lease
// beside it. These tests run the real binary around the real Terraform.

var leaseMethods = []struct {
	name   string
	method lockMethod
}{
	{"dynamodb", withDynamoDB},
	{"lock file", withLockfile},
}

// wrapped is a tfstate-guard run process.
type wrapped struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

// wrap starts `tfstate-guard run <flags> -- terraform <args>` in the
// working directory, in its own process group (as a runner step is).
func (w *workdir) wrap(flags, env []string, args ...string) *wrapped {
	w.t.Helper()
	all := append([]string{"run"}, flags...)
	all = append(append(all, "--", w.bin), args...)
	c := exec.Command(binary, all...)
	c.Dir, c.Env = w.dir, append(append([]string{}, w.env...), env...)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r := &wrapped{cmd: c, out: &syncBuffer{}, done: make(chan error, 1)}
	c.Stdout, c.Stderr = r.out, r.out
	require.NoError(w.t, c.Start())
	pid := c.Process.Pid
	exited := make(chan struct{})
	w.t.Cleanup(func() {
		// Only while it runs: once reaped, its PID may already belong to
		// another test's process (pid_max can be as low as 32768).
		select {
		case <-exited:
		default:
			killAll(pid)
		}
	})
	go func() { err := c.Wait(); close(exited); r.done <- err }()
	return r
}

// killAll SIGKILLs a process, its group and every descendant at once.
func killAll(pid int) {
	pids := append([]int{pid}, descendantsOf(pid)...)
	for _, p := range pids {
		_ = syscall.Kill(-p, syscall.SIGKILL) // the groups it leads
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
}

// descendantsOf lists every process below pid, from /proc.
func descendantsOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], p)
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		out = append(out, children[p]...)
		queue = append(queue, children[p]...)
	}
	return out
}

// alive reports whether any of pids still runs (zombies count as gone).
func alive(pids []int) []int {
	var out []int
	for _, p := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		s := string(stat)
		if f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]); len(f) > 0 && f[0] != "Z" {
			out = append(out, p)
		}
	}
	return out
}

// terraformChild is the Terraform process the wrapper started.
func (r *wrapped) terraformChild(t *testing.T) int {
	t.Helper()
	for _, p := range descendantsOf(r.cmd.Process.Pid) {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p))
		if ppid := parentOf(p); ppid == r.cmd.Process.Pid && strings.HasPrefix(strings.TrimSpace(string(comm)), "terraform") {
			return p
		}
	}
	t.Fatalf("no terraform process under the wrapper:\n%s", r.out.String())
	return 0
}

func parentOf(pid int) int {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(stat)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// exit waits for the wrapper and returns its exit code.
func (r *wrapped) exit(t testing.TB, within time.Duration) int {
	t.Helper()
	select {
	case err := <-r.done:
		if err == nil {
			return 0
		}
		ee, ok := err.(*exec.ExitError)
		require.True(t, ok, "%v", err)
		return ee.ExitCode()
	case <-time.After(within):
		t.Fatalf("tfstate-guard run did not end within %s:\n%s", within, r.out.String())
		return -1
	}
}

// held reports whether the state's lock is in the store(s) of method.
func (w *workdir) held(lockPath string) bool {
	ok := true
	if w.method&withDynamoDB != 0 {
		item, found := w.b.item(lockPath)
		ok = ok && found && item["Info"] != nil
	}
	if w.method&withLockfile != 0 {
		_, found := w.b.object(strings.TrimPrefix(lockPath, w.b.bucket+"/") + lockcheck.LockFileSuffix)
		ok = ok && found
	}
	return ok
}

// lease is the lease beside the lock, and whether there is one.
func (w *workdir) lease(lockPath string) (lockcheck.Lease, bool) {
	if w.method&withDynamoDB != 0 {
		item, ok := w.b.item(lockcheck.LeaseKey(lockPath))
		if !ok {
			return lockcheck.Lease{}, false
		}
		raw, _ := item[lockcheck.AttrLease].(*types.AttributeValueMemberS)
		require.NotNil(w.t, raw)
		l, err := lockcheck.ParseLease(raw.Value)
		require.NoError(w.t, err)
		return l, true
	}
	body, ok := w.b.object(lockcheck.LeaseObjectKey(strings.TrimPrefix(lockPath, w.b.bucket+"/")))
	if !ok {
		return lockcheck.Lease{}, false
	}
	l, err := lockcheck.ParseLease(body)
	require.NoError(w.t, err)
	return l, true
}

// heldLockID is the lock ID held now (from either store).
func (w *workdir) heldLockID(lockPath string) string {
	if w.method&withDynamoDB != 0 {
		return w.b.lockID(lockPath)
	}
	body, ok := w.b.object(strings.TrimPrefix(lockPath, w.b.bucket+"/") + lockcheck.LockFileSuffix)
	require.True(w.t, ok)
	return lockcheck.ParseLock(lockPath, body, lockcheck.Location{}).ID()
}

// wrapHolding starts a wrapped apply that holds the lock for hold seconds
// and waits until the lock and its lease are in the store and the slow
// resource is being created.
func (w *workdir) wrapHolding(hold int, lockPath string, flags, env []string) *wrapped {
	w.t.Helper()
	r := w.wrap(flags, env, "apply", "-auto-approve", "-input=false", fmt.Sprintf("-var=hold=%d", hold))
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		_, leased := w.lease(lockPath)
		if w.held(lockPath) && leased && strings.Contains(r.out.String(), "Provisioning with 'local-exec'") {
			return r
		}
		select {
		case err := <-r.done:
			w.t.Fatalf("tfstate-guard run ended before holding the lock: %v\n%s", err, r.out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	w.t.Fatalf("tfstate-guard run never held the lock and lease on %s:\n%s", lockPath, r.out.String())
	return nil
}

func (g *guard) leaseInputs(mode string, w *workdir, extra map[string]string) map[string]string {
	in := g.inputs(mode, extra)
	if w.method&withLockfile != 0 {
		in["state-bucket"] = g.b.bucket
	}
	return in
}

var fastLease = []string{"--lease-interval", "1s", "--lease-term", "6s"}

// (b) SIGKILL of Terraform alone: the wrapper releases its lock at once,
// and the next plan succeeds.
func TestWrapperReleasesWhenTerraformIsKilled(t *testing.T) {
	t.Parallel()
	for _, tc := range leaseMethods {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t)
			key := "wrap-kill-tf/terraform.tfstate"
			lockPath := b.bucket + "/" + key
			w := newWorkdir(t, b, key, tc.method)
			r := w.wrapHolding(120, lockPath, fastLease, nil)
			id := w.heldLockID(lockPath)
			l, _ := w.lease(lockPath)
			assert.Equal(t, id, l.LockID, "the lease names the wrapper's lock")
			assert.Equal(t, r.cmd.Process.Pid, l.PID)
			assert.Contains(t, r.out.String(), "took the state lock "+lockPath+" (ID "+id+")")
			if tc.method&withDynamoDB != 0 {
				info := lockcheck.ParseLock(lockPath, b.lockInfo(lockPath), lockcheck.Location{})
				assert.Empty(t, info.ParseProblem)
				assert.Equal(t, "OperationTypeApply", info.Info.Operation)
				assert.Equal(t, lockPath, info.Info.Path)
				assert.Regexp(t, `^1\.\d+\.\d+`, info.Info.Version, "the version of the Terraform that ran init")
				assert.Equal(t, "@"+thisHost(t), info.Info.Who[strings.IndexByte(info.Info.Who, '@'):])
			}

			require.NoError(t, syscall.Kill(r.terraformChild(t), syscall.SIGKILL))
			killed := time.Now()
			assert.Equal(t, 128+9, r.exit(t, 30*time.Second), r.out.String())
			t.Logf("kill of Terraform to lock released: %s", time.Since(killed).Round(time.Millisecond))
			assert.False(t, w.held(lockPath), "the wrapper released its lock:\n%s", r.out.String())
			_, leased := w.lease(lockPath)
			assert.False(t, leased, "and its lease")
			assert.Contains(t, r.out.String(), "released the state lock")
			w.mustRun("plan", "-lock-timeout=0s", "-input=false")
		})
	}
}

// (e) A lock far older than stale-after with a live lease stays ACTIVE
// (definitive) with no GitHub token at all.
func TestLiveLeaseKeepsAnOldLockActiveWithoutGitHub(t *testing.T) {
	t.Parallel()
	for _, tc := range leaseMethods {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, gh := newBackend(t), newFakeGitHub(t)
			key := "wrap-old/terraform.tfstate"
			lockPath := b.bucket + "/" + key
			w := newWorkdir(t, b, key, tc.method)
			r := w.wrapHolding(60, lockPath, fastLease, nil)
			time.Sleep(3 * time.Second) // older than stale-after below
			g := newGuard(t, b, gh)
			in := g.leaseInputs("detect", w, map[string]string{"github-token": "", "active-within": "1s", "stale-after": "2s", "auto-unlock": "definitive"})
			assert.Equal(t, 1, g.Run(in), g.Stdout)
			out := g.Outputs()
			assert.Equal(t, "true", out["ACTIVE_LOCKS_FOUND"])
			assert.Equal(t, "0", out["AUTO_UNLOCKED_COUNT"])
			assert.Contains(t, out["LOCK_DETAILS"], `"rule":"lease-live","evidence":"definitive"`)
			assert.Contains(t, out["LOCK_DETAILS"], fmt.Sprintf("by pid %d on host", r.cmd.Process.Pid))
			assert.Equal(t, w.heldLockID(lockPath), lockIDIn(t, out["LOCK_DETAILS"]))
			assert.Zero(t, gh.api.Requests("/"), "GitHub was never asked")
			assert.True(t, w.held(lockPath))
		})
	}
}

func lockIDIn(t *testing.T, details string) string {
	i := strings.Index(details, `"lock_id":"`)
	require.GreaterOrEqual(t, i, 0, details)
	rest := details[i+len(`"lock_id":"`):]
	return rest[:strings.IndexByte(rest, '"')]
}

// (f) Two wrappers on one state and host: the second fails or waits
// (-lock-timeout) and never touches the first's lock or lease.
func TestSecondWrapperNeverTouchesTheFirstsLock(t *testing.T) {
	t.Parallel()
	for _, tc := range leaseMethods {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t)
			key := "wrap-two/terraform.tfstate"
			lockPath := b.bucket + "/" + key
			w := newWorkdir(t, b, key, tc.method)
			first := w.wrapHolding(12, lockPath, fastLease, nil)
			id := w.heldLockID(lockPath)

			second := w.wrap(fastLease, nil, "plan", "-lock-timeout=2s", "-input=false")
			assert.Equal(t, 1, second.exit(t, 60*time.Second), second.out.String())
			assert.Contains(t, second.out.String(), "locked by someone else (ID "+id)
			assert.NotContains(t, second.out.String(), "Terraform will perform", "Terraform never ran")
			assert.Equal(t, id, w.heldLockID(lockPath), "the first's lock is untouched")
			l, ok := w.lease(lockPath)
			require.True(t, ok, "the first's lease is untouched")
			assert.Equal(t, id, l.LockID)
			assert.Equal(t, first.cmd.Process.Pid, l.PID)

			// Interrupted while waiting: it gives up, having taken nothing.
			waiter := w.wrap(fastLease, nil, "plan", "-lock-timeout=90s", "-input=false")
			require.Eventually(t, func() bool { return strings.Contains(waiter.out.String(), "trying again") }, 30*time.Second, 50*time.Millisecond, waiter.out.String())
			require.NoError(t, waiter.cmd.Process.Signal(syscall.SIGINT))
			assert.Equal(t, 130, waiter.exit(t, 10*time.Second), waiter.out.String())
			assert.Contains(t, waiter.out.String(), "nothing was taken")
			assert.Equal(t, id, w.heldLockID(lockPath), "the first's lock is untouched")

			third := w.wrap(fastLease, nil, "plan", "-lock-timeout=90s", "-input=false")
			assert.Equal(t, 0, first.exit(t, 90*time.Second), first.out.String())
			assert.Equal(t, 0, third.exit(t, 90*time.Second), third.out.String())
			assert.Contains(t, third.out.String(), "trying again", "the third waited for the first")
			assert.False(t, w.held(lockPath))
		})
	}
}

// (a) SIGKILL of the wrapper's whole process tree mid-apply, as job apply
// of run 123: ACTIVE while the lease is live; ACTIVE while GitHub says the
// job runs; once it completed and term + margin passed, auto-unlock
// removes it with definitive evidence, and the next plan succeeds.
func TestKilledWrapperIsRemovedOnceItsJobEnded(t *testing.T) {
	t.Parallel()
	for _, tc := range leaseMethods {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, gh := newBackend(t), newFakeGitHub(t)
			key := "wrap-killed/terraform.tfstate"
			lockPath := b.bucket + "/" + key
			w := newWorkdir(t, b, key, tc.method)
			const runner = "runner-7"
			gh.api.SetAttempt("octo/infra", 123, 1, "in_progress", "")
			job := []string{"GITHUB_ACTIONS=true", "GITHUB_REPOSITORY=octo/infra", "GITHUB_RUN_ID=123", "GITHUB_RUN_ATTEMPT=1",
				"GITHUB_JOB=apply", "RUNNER_NAME=" + runner}
			r := w.wrapHolding(120, lockPath, fastLease, job)
			l, _ := w.lease(lockPath)
			assert.Equal(t, int64(123), l.RunID)
			assert.Equal(t, "apply", l.Job)
			tree := append([]int{r.cmd.Process.Pid}, descendantsOf(r.cmd.Process.Pid)...)
			killAll(r.cmd.Process.Pid)
			killed := time.Now()
			r.exit(t, 10*time.Second)
			require.Eventually(t, func() bool { return len(alive(tree)) == 0 }, 10*time.Second, 50*time.Millisecond, "the whole tree is gone")
			require.True(t, w.held(lockPath), "a killed wrapper leaves its lock")

			g := newGuard(t, b, gh)
			auto := map[string]string{"auto-unlock": "definitive", "fail-on-active": "false", "lease-margin": "3s"}
			require.Equal(t, 0, g.Run(g.leaseInputs("detect", w, auto)), g.Stdout)
			out := g.Outputs()
			assert.Equal(t, "0", out["AUTO_UNLOCKED_COUNT"])
			assert.Equal(t, "true", out["ACTIVE_LOCKS_FOUND"])
			assert.Contains(t, out["LOCK_DETAILS"], `"rule":"lease-live"`, "detect at once: the lease is live")

			time.Sleep(6*time.Second + 3*time.Second + time.Second) // term + margin passed
			require.Equal(t, 0, g.Run(g.leaseInputs("detect", w, auto)), g.Stdout)
			out = g.Outputs()
			assert.Equal(t, "0", out["AUTO_UNLOCKED_COUNT"], "the job is still in progress")
			assert.Equal(t, "true", out["ACTIVE_LOCKS_FOUND"])
			assert.Contains(t, out["LOCK_DETAILS"], "run 123 attempt 1 is in_progress")

			gh.api.End("octo/infra", 123, 1, "cancelled", runner, time.Now())
			jobEnded := time.Since(killed)
			var removable time.Duration
			require.Eventually(t, func() bool {
				if g.Run(g.leaseInputs("detect", w, auto)) != 0 {
					return false
				}
				removable = time.Since(killed)
				return g.Outputs()["AUTO_UNLOCKED_COUNT"] == "1"
			}, 60*time.Second, 500*time.Millisecond, g.Stdout)
			t.Logf("kill to removable: %s (term 6s + margin 3s; the job ended %s after the kill)", removable.Round(time.Millisecond), jobEnded.Round(time.Millisecond))
			// The lease was renewed at most an interval (1s) before the kill,
			// and AWS's Date has whole seconds: never removed before that.
			assert.GreaterOrEqual(t, removable, 6*time.Second+3*time.Second-2*time.Second)
			assert.Contains(t, g.Summary(), "Removed without approval: 1 lock(s)")
			assert.False(t, w.held(lockPath))
			w.mustRun("plan", "-lock-timeout=0s", "-input=false")
		})
	}
}

// (c) A runner-like cancel during a slow resource: SIGINT to the step's
// process, SIGTERM 7.5 s later (actions/runner ProcessInvoker: kill(pid),
// _sigintTimeout 7.5 s). With the wrapper, Terraform gets one interrupt,
// the second signal is absorbed, and no lock is left; bare Terraform,
// given both, exits at once in the middle of saving its state ("data loss
// may have occurred"; Terraform 1.11 still released its lock here).
func TestRunnerCancelLeavesNoLockWithTheWrapper(t *testing.T) {
	t.Parallel()
	for _, tc := range leaseMethods {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t)
			key := "wrap-cancel/terraform.tfstate"
			lockPath := b.bucket + "/" + key
			proxy, err := reliability.NewProxy(b.srv.URL)
			require.NoError(t, err)
			t.Cleanup(proxy.Close)
			w := newWorkdirVia(t, b, key, tc.method, proxy.URL)
			// A slow store: writing the state takes 9 s, so Terraform's
			// graceful stop (it saves the state) outlasts the runner's 7.5 s.
			slowState := func(c reliability.Call) reliability.Action {
				if c.Service == "s3" && c.Op == "PUT" && c.Key == key {
					return reliability.Action{Delay: 9 * time.Second}
				}
				return reliability.Pass
			}

			bare := w.applyHolding(30, lockPath, tc.method)
			proxy.SetFault(slowState)
			require.NoError(t, bare.cmd.Process.Signal(syscall.SIGINT))
			time.Sleep(7500 * time.Millisecond)
			_ = bare.cmd.Process.Signal(syscall.SIGTERM)
			<-bare.done
			assert.Contains(t, bare.out.String(), "Two interrupts received. Exiting immediately", "bare Terraform exits at the second signal, mid-way through saving its state")
			// Its group's leftovers (a provider): the group ID stays taken
			// while a member lives; the PID alone, reaped, may be reused.
			_ = syscall.Kill(-bare.cmd.Process.Pid, syscall.SIGKILL)
			proxy.SetFault(nil)
			if w.held(lockPath) {
				t.Logf("bare Terraform left its lock")
				w.mustRun("force-unlock", "-force", w.heldLockID(lockPath))
			} else {
				t.Logf("bare Terraform %s released its lock after the second signal (only its state save was cut short)", w.bin)
			}

			proxy.SetFault(nil)
			r := w.wrapHolding(30, lockPath, nil, nil)
			proxy.SetFault(slowState)
			cancelled := time.Now()
			require.NoError(t, r.cmd.Process.Signal(syscall.SIGINT))
			time.Sleep(7500 * time.Millisecond)
			_ = r.cmd.Process.Signal(syscall.SIGTERM)
			code := r.exit(t, 60*time.Second)
			t.Logf("cancel to wrapper exit: %s (exit %d)", time.Since(cancelled).Round(time.Millisecond), code)
			out := r.out.String()
			assert.NotEqual(t, 0, code)
			assert.Equal(t, 1, strings.Count(out, "passing one interrupt (SIGINT) to Terraform"), out)
			assert.Contains(t, out, "terminated: Terraform was interrupted already; absorbed")
			assert.NotContains(t, out, "Two interrupts received")
			assert.False(t, w.held(lockPath), "no lock left:\n%s", out)
			w.mustRun("plan", "-lock-timeout=0s", "-input=false")
		})
	}
}

// (d) The store becomes unreachable mid-apply: the wrapper cannot renew,
// interrupts Terraform and kills its whole tree before the term ends.
func TestUnreachableStoreFencesTerraformBeforeTheTermEnds(t *testing.T) {
	t.Parallel()
	for _, tc := range leaseMethods {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t)
			proxy, err := reliability.NewProxy(b.srv.URL)
			require.NoError(t, err)
			t.Cleanup(proxy.Close)
			key := "wrap-fence/terraform.tfstate"
			lockPath := b.bucket + "/" + key
			w := newWorkdirVia(t, b, key, tc.method, proxy.URL)
			r := w.wrapHolding(120, lockPath, fastLease, nil)
			tree := append([]int{r.terraformChild(t)}, descendantsOf(r.terraformChild(t))...)
			var refused atomic.Int64 // requests the proxy reset: none reaches the store
			proxy.SetFault(func(reliability.Call) reliability.Action { refused.Add(1); return reliability.Action{Reset: true} })
			unreachable := time.Now()
			// The last lease the store took ends its term here (read from the
			// server directly, not through the proxy).
			last, ok := w.lease(lockPath)
			require.True(t, ok)
			deadline := last.RenewedAt.Add(last.Term())
			require.Eventually(t, func() bool { return len(alive(tree)) == 0 }, 10*time.Second, 20*time.Millisecond, "Terraform's tree is gone:\n%s", r.out.String())
			gone := time.Now()
			t.Logf("store unreachable to Terraform's tree gone: %s (lease term 6s)", gone.Sub(unreachable).Round(time.Millisecond))
			assert.True(t, gone.Before(deadline), "gone %s after the fault, the last lease ends %s after it", gone.Sub(unreachable), deadline.Sub(unreachable))
			t.Logf("the last lease ended %s after the tree was gone", deadline.Sub(gone).Round(time.Millisecond))
			out := r.out.String()
			assert.Contains(t, out, "interrupting Terraform before the lease can be taken as expired")
			assert.Positive(t, refused.Load(), "the wrapper kept trying to renew")

			proxy.SetFault(nil) // the store is back: the wrapper releases the lock it holds
			r.exit(t, 60*time.Second)
			assert.False(t, w.held(lockPath), r.out.String())
		})
	}
}

// openPTY opens a pseudo-terminal pair.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	require.NoError(t, err)
	var unlock int32
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock)))
	require.Zero(t, errno)
	var n uint32
	_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n)))
	require.Zero(t, errno)
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// processState is the state letter of a process in /proc (R, S, T, Z...).
func processState(pid int) string {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(stat)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[0]
}

// (c) In a terminal: Ctrl-Z stops Terraform (and the wrapper with it, as
// a shell job), fg resumes both; Ctrl-C gives Terraform one interrupt and
// leaves no lock.
func TestCtrlCInATerminalLeavesNoLock(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	key := "wrap-tty/terraform.tfstate"
	lockPath := b.bucket + "/" + key
	w := newWorkdir(t, b, key, withDynamoDB)
	master, slave := openPTY(t)
	c := exec.Command(binary, "run", "--", w.bin, "apply", "-auto-approve", "-var=hold=30")
	c.Dir, c.Env = w.dir, w.env
	c.Stdin, c.Stdout, c.Stderr = slave, slave, slave
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	out := &syncBuffer{}
	go func() { _, _ = io.Copy(out, master) }()
	require.NoError(t, c.Start())
	pid := c.Process.Pid
	t.Cleanup(func() { killAll(pid) })
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	require.Eventually(t, func() bool {
		return w.held(lockPath) && strings.Contains(out.String(), "Provisioning with 'local-exec'")
	}, 90*time.Second, 100*time.Millisecond, out.String())
	r := &wrapped{cmd: c, out: out, done: done}
	tf := r.terraformChild(t)

	// Ctrl-Z and Ctrl-C go to the terminal's foreground process group:
	// Terraform shares it with the wrapper, so it stops and is interrupted
	// as the user expects. (The kernel discards a terminal's stop signals
	// for a group without a job-control shell, as here, so that half is
	// checked by its structure; TestSIGTSTPIsPassedOn checks the rest.)
	var fg int32
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCGPGRP, uintptr(unsafe.Pointer(&fg)))
	require.Zero(t, errno)
	tfGroup, err := syscall.Getpgid(tf)
	require.NoError(t, err)
	assert.Equal(t, int(fg), tfGroup, "Terraform is in the terminal's foreground group")

	_, err = master.Write([]byte{0x03}) // Ctrl-C
	require.NoError(t, err)
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("Terraform did not stop on Ctrl-C:\n%s", out.String())
	}
	assert.Equal(t, 1, strings.Count(out.String(), "Interrupt received"), out.String())
	assert.NotContains(t, out.String(), "Two interrupts")
	assert.Eventually(t, func() bool { return strings.Contains(out.String(), "released the state lock") }, 5*time.Second, 20*time.Millisecond,
		"the wrapper's last lines reach the terminal:\n%s", out.String())
	assert.False(t, w.held(lockPath), out.String())
	w.mustRun("plan", "-lock-timeout=0s", "-input=false")
}

// SIGTSTP sent to the wrapper (outside a terminal) stops Terraform; SIGCONT
// resumes it; the lock stays held and leased meanwhile.
func TestSIGTSTPIsPassedOn(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	key := "wrap-tstp/terraform.tfstate"
	lockPath := b.bucket + "/" + key
	w := newWorkdir(t, b, key, withDynamoDB)
	r := w.wrapHolding(10, lockPath, fastLease, nil)
	tf := r.terraformChild(t)
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGTSTP))
	require.Eventually(t, func() bool { return processState(tf) == "T" }, 10*time.Second, 20*time.Millisecond, "Terraform stops")
	before, _ := w.lease(lockPath)
	time.Sleep(2500 * time.Millisecond)
	after, _ := w.lease(lockPath)
	assert.Greater(t, after.Renewal, before.Renewal, "the wrapper, alive, renews the lease while Terraform is stopped")
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGCONT))
	require.Eventually(t, func() bool { return processState(tf) != "T" }, 10*time.Second, 20*time.Millisecond, "Terraform resumes")
	assert.Equal(t, 0, r.exit(t, 90*time.Second), r.out.String())
	assert.False(t, w.held(lockPath))
}
