// Command bench measures tfstate-guard against the shell-script approach it
// replaces, on a local moto_server, and prints a table.
//
//	go run ./bench            # the full form: 10, 1,000 and 10,000 items
//	go run ./bench -short     # the CI form (scripts/bench.sh): about a minute
//
// Everything goes through one counting proxy in front of moto (the floor,
// tfstate-guard and the baseline alike), and GitHub is a fake API in this
// process that counts requests; see bench/README.md for what each figure
// means and the targets they are read against.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

const (
	region     = "eu-west-2"
	repository = "octo/infra"
	bucket     = "bench-state"
)

type options struct {
	short    bool
	reps     int
	sizes    []int
	owners   []int
	unlocks  []int
	skipBase bool
	hotOnly  bool
	binary   string
	compare  string
	latency  time.Duration
	evidence []int
	evOnly   bool
}

func main() {
	var o options
	var sizes, owners, unlocks, evidence string
	flag.BoolVar(&o.short, "short", false, "the CI form: fewer sizes and repetitions (about a minute)")
	flag.IntVar(&o.reps, "reps", 0, "repetitions per figure (default 5, 3 with -short)")
	flag.StringVar(&sizes, "sizes", "", "table sizes in items (default 10,1000,10000; 10,1000 with -short)")
	flag.StringVar(&owners, "owners", "", "distinct owning runs (default 1,10,100; 1,100 with -short)")
	flag.StringVar(&unlocks, "unlocks", "", "locks per unlock (default 1,10,100; 1,10 with -short)")
	flag.BoolVar(&o.skipBase, "no-baseline", false, "do not run the aws CLI baseline")
	flag.StringVar(&o.binary, "binary", "", "measure this tfstate-guard binary instead of building the working tree (before/after comparisons)")
	flag.StringVar(&o.compare, "compare", "", "also measure this binary (e.g. an older build) side by side with detect, run for run")
	flag.BoolVar(&o.hotOnly, "hot-path", false, "measure only the binary's start and detect on an empty table")
	flag.DurationVar(&o.latency, "github-latency", 100*time.Millisecond, "latency of each GitHub API answer in the evidence-path table (GitHub's typical: 100ms)")
	flag.StringVar(&evidence, "evidence", "", "distinct owning runs in the evidence-path table (default 10,100,1000; 10,100 with -short)")
	flag.BoolVar(&o.evOnly, "evidence-only", false, "measure only the evidence-path table")
	flag.Parse()
	def := func(s, full, short string) string {
		if s != "" {
			return s
		}
		if o.short {
			return short
		}
		return full
	}
	var err error
	if o.sizes, err = ints("sizes", def(sizes, "10,1000,10000", "10,1000")); err == nil {
		if o.owners, err = ints("owners", def(owners, "1,10,100", "1,100")); err == nil {
			if o.unlocks, err = ints("unlocks", def(unlocks, "1,10,100", "1,10")); err == nil {
				o.evidence, err = ints("evidence", def(evidence, "10,100,1000", "10,100"))
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if o.reps == 0 {
		o.reps = 5
		if o.short {
			o.reps = 3
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func ints(name, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-%s %q: want positive integers separated by commas", name, s)
		}
		out = append(out, n)
	}
	return out, nil
}

// env is the machinery one bench run shares.
type env struct {
	o       options
	repo    string // repository root
	work    string // temp dir
	binary  string // tfstate-guard built as the Dockerfile builds it
	compare string // another binary measured side by side, or ""
	moto    string // moto URL (seeding goes here directly)
	server  *moto
	proxy   *countingProxy
	github  *fakeGitHub
	ddb     *dynamodb.Client // direct to moto, for seeding
	baseEnv []string
}

func run(ctx context.Context, o options) error {
	repo, err := repoRoot()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "tfstate-guard-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	e := &env{o: o, repo: repo, work: work}

	if o.compare != "" {
		if e.compare, err = filepath.Abs(o.compare); err != nil {
			return err
		}
		step("comparing with %s", e.compare)
	}
	if o.binary != "" {
		if e.binary, err = filepath.Abs(o.binary); err != nil {
			return err
		}
		step("measuring %s", e.binary)
	} else {
		step("building tfstate-guard (go build -trimpath -ldflags \"-s -w\", as the Dockerfile does)")
		e.binary = filepath.Join(work, "tfstate-guard")
		build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", e.binary, ".")
		build.Dir, build.Stdout, build.Stderr = repo, os.Stderr, os.Stderr
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if err := build.Run(); err != nil {
			return fmt.Errorf("go build: %w", err)
		}
	}

	if err := e.freshMoto(ctx); err != nil {
		return err
	}
	defer func() { e.server.stop() }()
	if e.proxy, err = newCountingProxy(e.moto); err != nil {
		return err
	}
	defer e.proxy.close()
	if e.github, err = newFakeGitHub(); err != nil {
		return err
	}
	defer e.github.close()
	e.baseEnv = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + work, "LANG=C.UTF-8",
		"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_REGION=" + region, "AWS_DEFAULT_REGION=" + region,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_ENDPOINT_URL=" + e.proxy.url,
	}

	r := &results{binarySize: fileSize(e.binary), image: imageSize(ctx)}
	if o.evOnly {
		for _, n := range o.evidence {
			if err := e.evidencePath(ctx, r, n); err != nil {
				return err
			}
		}
		r.printEvidence(os.Stdout)
		return nil
	}
	if err := e.hotPath(ctx, r); err != nil {
		return err
	}
	if o.hotOnly {
		r.print(os.Stdout, o)
		return nil
	}
	for _, size := range o.sizes {
		if err := e.freshMoto(ctx); err != nil {
			return err
		}
		for i, owners := range o.owners {
			if err := e.detectSize(ctx, r, size, owners, i == 0); err != nil {
				return err
			}
		}
	}
	if err := e.setup(ctx, r); err != nil {
		return err
	}
	for _, n := range o.unlocks {
		if err := e.unlock(ctx, r, n); err != nil {
			return err
		}
	}
	for _, n := range o.evidence {
		if err := e.freshMoto(ctx); err != nil {
			return err
		}
		if err := e.evidencePath(ctx, r, n); err != nil {
			return err
		}
	}
	r.print(os.Stdout, o)
	return nil
}

var began = time.Now()

// freshMoto starts a new moto_server and stops the previous one: moto
// slows down as a long run piles up tables (a 1,000-item scan went from
// 0.4 s to 1.5 s over one full run), so each table size gets a fresh one.
func (e *env) freshMoto(ctx context.Context) error {
	if e.server != nil {
		e.server.stop()
	}
	m, err := startMoto(ctx, e.work)
	if err != nil {
		return err
	}
	e.server, e.moto = m, m.url
	e.ddb = dynamodb.NewFromConfig(awsConfig(m.url))
	if e.proxy != nil {
		u, err := url.Parse(m.url)
		if err != nil {
			return err
		}
		e.proxy.retarget(u)
	}
	return nil
}

func step(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: %5.1fs "+format+"\n", append([]any{time.Since(began).Seconds()}, args...)...)
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/text2agent/tfstate-guard\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run me inside the tfstate-guard repository (go run ./bench)")
		}
		dir = parent
	}
}

func awsConfig(endpoint string) aws.Config {
	return aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		BaseEndpoint: aws.String(endpoint),
		HTTPClient:   &http.Client{Transport: &http.Transport{}},
	}
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return st.Size()
}

// imageSize reports the action image's size when a Docker engine is
// running and holds it (TFSTATE_GUARD_BENCH_IMAGE, default
// tfstate-guard:dev); otherwise why not.
func imageSize(ctx context.Context) string {
	image := os.Getenv("TFSTATE_GUARD_BENCH_IMAGE")
	if image == "" {
		image = "tfstate-guard:dev"
	}
	if _, err := exec.LookPath("docker"); err != nil {
		return "n/a (no docker client)"
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := exec.CommandContext(ctx, "docker", "info").Run(); err != nil {
		return "n/a (no Docker engine running)"
	}
	out, err := exec.CommandContext(ctx, "docker", "image", "inspect", "--format", "{{.Size}}", image).Output()
	if err != nil {
		return fmt.Sprintf("n/a (no image %s: docker build -t %s .)", image, image)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return "n/a (" + err.Error() + ")"
	}
	return fmt.Sprintf("%s (%s)", mib(n), image)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// moto is the moto_server this run started.
type moto struct {
	url string
	cmd *exec.Cmd
}

func startMoto(ctx context.Context, work string) (*moto, error) {
	if url := os.Getenv("TFSTATE_GUARD_MOTO_URL"); url != "" {
		return &moto{url: url}, waitHTTP(ctx, url+"/moto-api/", 20*time.Second)
	}
	path, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, errors.New("moto_server is not on PATH: pip install 'moto[server]==5.2.*' (or set TFSTATE_GUARD_MOTO_URL)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	log, err := os.Create(filepath.Join(work, "moto.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start moto_server: %w", err)
	}
	m := &moto{url: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd}
	step("moto_server pid %d on %s", cmd.Process.Pid, m.url)
	if err := waitHTTP(ctx, m.url+"/moto-api/", 30*time.Second); err != nil {
		m.stop()
		b, _ := os.ReadFile(log.Name())
		return nil, fmt.Errorf("moto_server did not answer: %w\n%s", err, b)
	}
	return m, nil
}

// stop ends the moto_server this run started, by its PID (and its process
// group: the server's own children).
func (m *moto) stop() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = m.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

func waitHTTP(ctx context.Context, url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
			err = fmt.Errorf("%s: %s", url, resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return last
}

// measurement is one timed run of a program.
type measurement struct {
	wall     time.Duration
	rssKiB   int64
	counts   requestCounts
	ghCalls  int64
	exitCode int
}

// runChild runs a program with the bench's environment, timing it from
// start to exit and reading its peak RSS (and its children's) from rusage.
func (e *env) runChild(ctx context.Context, extraEnv []string, name string, args ...string) (measurement, []byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(append([]string{}, e.baseEnv...), extraEnv...)
	cmd.Dir = e.work
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	out := &strings.Builder{}
	cmd.Stdout = out
	e.proxy.reset()
	e.github.reset()
	start := time.Now()
	err := cmd.Run()
	m := measurement{wall: time.Since(start), counts: e.proxy.snapshot(), ghCalls: e.github.count()}
	if cmd.ProcessState != nil {
		m.exitCode = cmd.ProcessState.ExitCode()
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			m.rssKiB = ru.Maxrss // KiB on Linux
		}
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return m, nil, fmt.Errorf("%s: %w", name, err)
	}
	return m, []byte(out.String() + stderr.String()), nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianInt(xs []int64) int64 {
	s := append([]int64(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

func newTab(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
}
