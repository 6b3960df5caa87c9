package reliability

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// CompletedRunThenLaptop is the race harness's first finding as a fixed
// scenario (issue 9): CI run R ran setup for a state (its run record),
// took and released the lock, and completed. Then a laptop takes the lock
// and holds it while detect and unlock (approving what detect offered)
// run. The laptop's lock is live: it must survive. It returns violations.
func CompletedRunThenLaptop(ctx context.Context, cfg RaceConfig) []string {
	w := &world{cfg: &cfg, n: 0, locks: map[string]*heldLock{}, byETag: map[string]string{}, states: map[string][]string{}}
	w.table = fmt.Sprintf("issue9-locks-%d", time.Now().UnixNano()%1e9)
	w.bucket = fmt.Sprintf("issue9-state-%d", time.Now().UnixNano()%1e9)
	w.inv = &Invoker{Entry: cfg.Entry, Dir: cfg.Dir, Env: map[string]string{
		"GITHUB_REPOSITORY": repository, "GITHUB_WORKFLOW": "terraform", "GITHUB_API_URL": cfg.GitHubURL, "AWS_ENDPOINT_URL": cfg.AWS.URL,
	}}
	if err := w.create(ctx); err != nil {
		return []string{err.Error()}
	}
	p := statePath{key: "app/terraform.tfstate", workspace: "default", method: "both", bucket: w.bucket}
	const ciRun = 4242
	w.ciRun(ctx, 0, p, "11111111-1111-4111-8111-111111111111", kindCILive, ciRun, 10*time.Millisecond, 1, 0)
	if w.cfg.GitHub.Live(ciRun) {
		return []string{"the CI run did not complete"}
	}
	laptop := "22222222-2222-4222-8222-222222222222"
	info := fmt.Sprintf(`{"ID":%q,"Operation":"OperationTypeApply","Info":"","Who":"dev@laptop-7","Version":%q,"Created":%q,"Path":%q}`,
		laptop, terraformVersion, time.Now().UTC().Format(time.RFC3339Nano), p.stateKey())
	ok, etag, err := w.lock(ctx, p, info)
	if err != nil || !ok {
		return []string{fmt.Sprintf("laptop could not take the lock: %v", err)}
	}
	done := make(chan approval, 1)
	w.detect(ctx, map[string]string{}, done)
	a := <-done
	w.unlock(ctx, a)
	var out []string
	out = append(out, w.report.Violations...)
	lost := w.release(ctx, p, &heldLock{id: laptop, path: p.lockPath(), info: info, etag: etag})
	if lost != "" {
		out = append(out, fmt.Sprintf("LIVE LOCK REMOVED: the laptop's lock %s, taken after CI run %d completed, was removed while held (%s); detect offered LOCK_IDS %q:\n%s",
			laptop, ciRun, lost, a.ids, stepsAbout(w.steps, laptop)))
	}
	if strings.Contains(a.ids, laptop) && lost == "" {
		out = append(out, fmt.Sprintf("detect offered the laptop's live lock %s for approval: %s", laptop, findDetail(a.details, laptop)))
	}
	return out
}
