package lockcheck

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"
)

// RunState is what GitHub says about one workflow run.
type RunState struct {
	Repository string
	ID         int64
	// Attempt is the run's latest attempt (run_attempt).
	Attempt    int
	Status     string // queued, in_progress, completed, waiting, requested, pending, action_required
	Conclusion string // only when completed
	URL        string
	Workflow   string
	// Actor is who started the run (actor.login); TriggeringActor who
	// started this attempt (a re-run). For people to read, never to trust.
	Actor, TriggeringActor string
	// UpdatedAt is when GitHub last changed the run (or attempt).
	UpdatedAt time.Time
	// Jobs are the attempt's jobs, filled by Attempt for a completed
	// attempt: when each ended, and on which runner.
	Jobs []JobState
}

// JobState is one job of an attempt.
type JobState struct {
	Name       string
	RunnerName string
	// RunnerGroup is the job's runner_group_name: "GitHub Actions" for
	// GitHub-hosted runners (a fresh machine per job).
	RunnerGroup string
	Status      string
	StartedAt   time.Time
	CompletedAt time.Time
}

// EndedOn says when the job that ran on runnerName ended: the latest
// completion of the attempt's jobs on that runner. found is false when no
// job ran on it (an unknown or empty runner name), and ended is zero when
// GitHub gave no completion time.
func (r RunState) EndedOn(runnerName string) (ended time.Time, found bool) {
	if runnerName == "" {
		return time.Time{}, false
	}
	for _, j := range r.Jobs {
		if !strings.EqualFold(j.RunnerName, runnerName) {
			continue
		}
		found = true
		if j.CompletedAt.IsZero() {
			return time.Time{}, true // a job on it has not ended: no end time
		}
		if j.CompletedAt.After(ended) {
			ended = j.CompletedAt
		}
	}
	return ended, found
}

// Ended says when the attempt's last job ended; zero when GitHub gave no
// completion time for some job, or listed none.
func (r RunState) Ended() time.Time {
	var ended time.Time
	for _, j := range r.Jobs {
		if j.CompletedAt.IsZero() {
			return time.Time{}
		}
		if j.CompletedAt.After(ended) {
			ended = j.CompletedAt
		}
	}
	return ended
}

// Live reports whether the run is still running or may still run: every
// status but "completed" (including "waiting" for an environment approval).
func (r RunState) Live() bool { return r.Status != "completed" }

// LiveRunSet is every run of a repository that is not over, as GitHub
// listed it: keyed by run ID, each with its latest attempt and status.
type LiveRunSet struct {
	Repository string
	Runs       map[int64]RunState
	// Incomplete says what was not listed (more runs than MaxLiveRuns);
	// empty when the listing is whole. An incomplete listing proves
	// nothing about a run missing from it.
	Incomplete string
}

// RunnerJob is a job of a live run that a runner has picked up.
type RunnerJob struct {
	RunnerName string
	Job        string
	Run        RunState
}

// Runs answers questions about workflow runs. GitHubRuns is the real one.
type Runs interface {
	// Run returns the state of one run (its latest attempt). Answers are
	// cached per run: however many locks point at a run, it is asked once.
	Run(ctx context.Context, repository string, id int64) (RunState, error)
	// Attempt returns the state of one attempt of a run and, when it has
	// completed, its jobs (when each ended, on which runner). Cached too.
	Attempt(ctx context.Context, repository string, id int64, attempt int) (RunState, error)
	// LiveRuns lists every run of the repository that is not over (every
	// status but completed), every page; cached per repository.
	LiveRuns(ctx context.Context, repository string) (LiveRunSet, error)
	// LiveRunnerJobs lists the jobs of the repository's live runs with the
	// runner each runs on.
	LiveRunnerJobs(ctx context.Context, repository string) ([]RunnerJob, error)
}

// LiveStatuses are the run statuses GitHub reports for a run that is not
// over, each listed on its own (the runs list filters by one status).
var LiveStatuses = []string{"queued", "in_progress", "waiting", "requested", "pending", "action_required"}

// GitHubRuns asks the GitHub REST API (github.com or Enterprise Server).
type GitHubRuns struct {
	client *github.Client
	// MaxLiveRuns bounds how many live runs LiveRuns lists (and
	// LiveRunnerJobs asks the jobs of); past it the listing says what it
	// left out.
	MaxLiveRuns int

	mu   sync.Mutex
	runs map[string]*runAnswer
	live map[string]*liveAnswer
	// runnersMu guards runners and is held while they are listed, so
	// concurrent classifications share one listing.
	runnersMu sync.Mutex
	runners   map[string]runnersAnswer
}

// liveAnswer is one repository's live-run listing, shared by concurrent
// askers like runAnswer.
type liveAnswer struct {
	done chan struct{}
	set  LiveRunSet
	err  error
}

// runAnswer is one run's answer; done closes when it is known, so that
// concurrent askers of the same run share one request.
type runAnswer struct {
	done  chan struct{}
	state RunState
	err   error
}

type runnersAnswer struct {
	jobs []RunnerJob
	err  error
}

var _ Runs = (*GitHubRuns)(nil)

// NewGitHubRuns builds a client for apiURL (GITHUB_API_URL, e.g.
// https://api.github.com or https://ghes.example.com/api/v3) that retries
// per policy. base may be nil for http.DefaultTransport.
func NewGitHubRuns(apiURL, token string, base http.RoundTripper, policy RetryPolicy) (*GitHubRuns, error) {
	u, err := url.Parse(strings.TrimRight(apiURL, "/") + "/")
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("github-api-url %q is not an absolute URL: use the runner's GITHUB_API_URL, e.g. https://api.github.com", apiURL)
	}
	if base == nil {
		base = http.DefaultTransport
	}
	hc := &http.Client{Transport: &retryTransport{base: base, policy: policy}}
	c := github.NewClient(hc)
	if token != "" {
		c = c.WithAuthToken(token)
	}
	c.BaseURL = u
	return &GitHubRuns{client: c, MaxLiveRuns: DefaultMaxLiveRuns, runs: map[string]*runAnswer{}, runners: map[string]runnersAnswer{},
		live: map[string]*liveAnswer{}}, nil
}

// ErrRunNotFound means GitHub answered 404 for the run: it was deleted, or
// the token cannot see it. Neither proves the run has ended.
var ErrRunNotFound = errors.New("workflow run not found (deleted, or not visible to this token)")

// Run implements Runs.
func (g *GitHubRuns) Run(ctx context.Context, repository string, id int64) (RunState, error) {
	return g.cached(ctx, fmt.Sprintf("%s#%d", strings.ToLower(repository), id), func() (RunState, error) {
		return g.fetchRun(ctx, repository, id)
	})
}

// Attempt implements Runs.
func (g *GitHubRuns) Attempt(ctx context.Context, repository string, id int64, attempt int) (RunState, error) {
	return g.cached(ctx, fmt.Sprintf("%s#%d#%d", strings.ToLower(repository), id, attempt), func() (RunState, error) {
		return g.fetchAttempt(ctx, repository, id, attempt)
	})
}

// ForgetLive drops the cached answers about runs that were live or could
// not be asked, and the live-runner listing, so the next question goes to
// GitHub again; answers about ended runs stay (they cannot change).
func (g *GitHubRuns) ForgetLive() {
	g.mu.Lock()
	for k, a := range g.runs {
		select {
		case <-a.done:
			if a.err != nil || a.state.Live() {
				delete(g.runs, k)
			}
		default: // still being asked
		}
	}
	g.live = map[string]*liveAnswer{}
	g.mu.Unlock()
	// runnersMu is taken after mu is released: a runner listing holds
	// runnersMu while it asks LiveRuns, which takes mu.
	g.runnersMu.Lock()
	g.runners = map[string]runnersAnswer{}
	g.runnersMu.Unlock()
}

// cached asks fetch once per key; concurrent askers share the answer.
func (g *GitHubRuns) cached(ctx context.Context, key string, fetch func() (RunState, error)) (RunState, error) {
	g.mu.Lock()
	a, asked := g.runs[key]
	if !asked {
		a = &runAnswer{done: make(chan struct{})}
		g.runs[key] = a
	}
	g.mu.Unlock()
	if !asked {
		a.state, a.err = fetch()
		close(a.done)
	}
	select {
	case <-a.done:
		return a.state, a.err
	case <-ctx.Done():
		return RunState{}, ctx.Err()
	}
}

func (g *GitHubRuns) fetchRun(ctx context.Context, repository string, id int64) (RunState, error) {
	owner, repo, err := splitRepository(repository)
	if err != nil {
		return RunState{}, err
	}
	run, resp, err := g.client.Actions.GetWorkflowRunByID(ctx, owner, repo, id)
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			return RunState{}, fmt.Errorf("get run %d of %s: %w", id, repository, ErrRunNotFound)
		}
		return RunState{}, fmt.Errorf("get run %d of %s: %w", id, repository, explainGitHubError(resp, err))
	}
	return stateOf(repository, run), nil
}

// maxJobPages bounds the job listing of one attempt (100 jobs a page).
const maxJobPages = 3

func (g *GitHubRuns) fetchAttempt(ctx context.Context, repository string, id int64, attempt int) (RunState, error) {
	owner, repo, err := splitRepository(repository)
	if err != nil {
		return RunState{}, err
	}
	run, resp, err := g.client.Actions.GetWorkflowRunAttempt(ctx, owner, repo, id, attempt, &github.WorkflowRunAttemptOptions{ExcludePullRequests: github.Bool(true)})
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			return RunState{}, fmt.Errorf("get attempt %d of run %d of %s: %w", attempt, id, repository, ErrRunNotFound)
		}
		return RunState{}, fmt.Errorf("get attempt %d of run %d of %s: %w", attempt, id, repository, explainGitHubError(resp, err))
	}
	st := stateOf(repository, run)
	if st.Live() {
		return st, nil
	}
	opts := &github.ListOptions{PerPage: 100}
	for page := 0; page < maxJobPages; page++ {
		jobs, resp, err := g.client.Actions.ListWorkflowJobsAttempt(ctx, owner, repo, id, int64(attempt), opts)
		if err != nil {
			return RunState{}, fmt.Errorf("list jobs of attempt %d of run %d of %s: %w", attempt, id, repository, explainGitHubError(resp, err))
		}
		for _, j := range jobs.Jobs {
			st.Jobs = append(st.Jobs, JobState{Name: j.GetName(), RunnerName: j.GetRunnerName(), RunnerGroup: j.GetRunnerGroupName(), Status: j.GetStatus(),
				StartedAt: j.GetStartedAt().Time, CompletedAt: j.GetCompletedAt().Time})
		}
		if resp.NextPage == 0 {
			return st, nil
		}
		opts.Page = resp.NextPage
	}
	// More jobs than listed: the end of the attempt is not known.
	st.Jobs = append(st.Jobs, JobState{Name: "(more jobs not listed)", Status: "unknown"})
	return st, nil
}

func stateOf(repository string, run *github.WorkflowRun) RunState {
	return RunState{
		Repository: repository,
		ID:         run.GetID(),
		Attempt:    run.GetRunAttempt(),
		Status:     run.GetStatus(),
		Conclusion: run.GetConclusion(),
		URL:        run.GetHTMLURL(),
		Workflow:   run.GetName(),
		UpdatedAt:  run.GetUpdatedAt().Time,

		Actor:           run.GetActor().GetLogin(),
		TriggeringActor: run.GetTriggeringActor().GetLogin(),
	}
}

// DefaultMaxLiveRuns is how many live runs of one repository a detect
// lists at most: 10 pages of 100 per status at worst.
const DefaultMaxLiveRuns = 1000

// LiveRuns implements Runs: one listing per live status, every page.
func (g *GitHubRuns) LiveRuns(ctx context.Context, repository string) (LiveRunSet, error) {
	key := strings.ToLower(repository)
	g.mu.Lock()
	a, asked := g.live[key]
	if !asked {
		a = &liveAnswer{done: make(chan struct{})}
		g.live[key] = a
	}
	g.mu.Unlock()
	if !asked {
		a.set, a.err = g.fetchLiveRuns(ctx, repository)
		close(a.done)
	}
	select {
	case <-a.done:
		return a.set, a.err
	case <-ctx.Done():
		return LiveRunSet{}, ctx.Err()
	}
}

func (g *GitHubRuns) fetchLiveRuns(ctx context.Context, repository string) (LiveRunSet, error) {
	owner, repo, err := splitRepository(repository)
	if err != nil {
		return LiveRunSet{}, err
	}
	set := LiveRunSet{Repository: repository, Runs: map[int64]RunState{}}
	var cut []string
	for _, status := range LiveStatuses {
		opts := &github.ListWorkflowRunsOptions{Status: status, ListOptions: github.ListOptions{PerPage: 100}}
		for {
			page, resp, err := g.client.Actions.ListRepositoryWorkflowRuns(ctx, owner, repo, opts)
			if err != nil {
				return LiveRunSet{}, fmt.Errorf("list %s runs of %s: %w", status, repository, explainGitHubError(resp, err))
			}
			for _, run := range page.WorkflowRuns {
				st := stateOf(repository, run)
				if st.Status == "completed" {
					continue // finished between the filter and the answer
				}
				set.Runs[st.ID] = st
			}
			if resp.NextPage == 0 {
				break
			}
			if len(set.Runs) >= g.MaxLiveRuns {
				cut = append(cut, fmt.Sprintf("%s runs past the first %d (of %d in all)", status, len(set.Runs), page.GetTotalCount()))
				break
			}
			opts.Page = resp.NextPage
		}
	}
	if len(cut) > 0 {
		set.Incomplete = "more live runs than the " + strconv.Itoa(g.MaxLiveRuns) + " a detect lists: not checked: " + strings.Join(cut, ", ")
	}
	return set, nil
}

// LiveRunnerJobs implements Runs: the live runs, then their latest jobs.
func (g *GitHubRuns) LiveRunnerJobs(ctx context.Context, repository string) ([]RunnerJob, error) {
	g.runnersMu.Lock()
	defer g.runnersMu.Unlock()
	if a, ok := g.runners[repository]; ok {
		return a.jobs, a.err
	}
	jobs, err := g.fetchRunnerJobs(ctx, repository)
	g.runners[repository] = runnersAnswer{jobs, err}
	return jobs, err
}

func (g *GitHubRuns) fetchRunnerJobs(ctx context.Context, repository string) ([]RunnerJob, error) {
	owner, repo, err := splitRepository(repository)
	if err != nil {
		return nil, err
	}
	set, err := g.LiveRuns(ctx, repository)
	if err != nil {
		return nil, err
	}
	if set.Incomplete != "" {
		return nil, fmt.Errorf("runner names of live runs of %s not all checked: %s", repository, set.Incomplete)
	}
	ids := make([]int64, 0, len(set.Runs))
	for id := range set.Runs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var out []RunnerJob
	for _, id := range ids {
		run := set.Runs[id]
		jopts := &github.ListWorkflowJobsOptions{Filter: "latest", ListOptions: github.ListOptions{PerPage: 100}}
		for {
			jobs, resp, err := g.client.Actions.ListWorkflowJobs(ctx, owner, repo, id, jopts)
			if err != nil {
				return nil, fmt.Errorf("list jobs of run %d of %s: %w", id, repository, explainGitHubError(resp, err))
			}
			for _, j := range jobs.Jobs {
				if j.GetRunnerName() == "" || j.GetStatus() == "completed" {
					continue
				}
				out = append(out, RunnerJob{RunnerName: j.GetRunnerName(), Job: j.GetName(), Run: run})
			}
			if resp.NextPage == 0 {
				break
			}
			jopts.Page = resp.NextPage
		}
	}
	return out, nil
}

func splitRepository(repository string) (string, string, error) {
	owner, repo, ok := strings.Cut(repository, "/")
	if !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
		return "", "", fmt.Errorf("repository %q is not owner/name", repository)
	}
	return owner, repo, nil
}
