// Package reliability is the harness that tries hard to break tfstate-guard's
// promise, "a live lock is never removed": randomized races between
// Terraform-like writers and detect, unlock and setup (race.go), faults
// injected at the HTTP layer between the binary and its servers (proxy.go),
// and GitHub's API through the one fake, internal/fakegithub (this file).
//
// The harness drives the product only through its entry point (an Entry:
// the program's run function, or a wrapper that execs the binary) and
// checks invariants only from the writers' own logs, the outputs the
// product writes, and what the servers saw. It never looks at
// classification internals, so it keeps working while they change.
package reliability

import (
	"net/http/httptest"
	"time"

	"github.com/text2agent/tfstate-guard/internal/fakegithub"
)

// Run statuses GitHub reports.
const (
	StatusQueued     = fakegithub.StatusQueued
	StatusInProgress = fakegithub.StatusInProgress
	StatusCompleted  = fakegithub.StatusCompleted
)

// FakeGitHub is internal/fakegithub serving one repository on 127.0.0.1,
// with the token it accepts and the run operations the harness needs.
type FakeGitHub struct {
	Repository string
	Token      string
	URL        string
	API        *fakegithub.API

	srv *httptest.Server
}

// NewFakeGitHub starts the fake on 127.0.0.1 at a free port; every request
// must carry token (when not empty), as GitHub refuses others with 401.
func NewFakeGitHub(repository, token string) *FakeGitHub {
	api := fakegithub.New()
	api.Token = token
	g := &FakeGitHub{Repository: repository, Token: token, API: api}
	g.srv = httptest.NewServer(api)
	g.URL = g.srv.URL
	return g
}

// Close stops the server.
func (g *FakeGitHub) Close() { g.srv.Close() }

// Requests is how many requests the fake answered.
func (g *FakeGitHub) Requests() int { return g.API.Requests("") }

// Violations lists the answers that broke GitHub's published contract.
func (g *FakeGitHub) Violations() []string { return g.API.Violations() }

// Start registers a run in progress (attempt 1), its one job on runnerName
// ("GitHub Actions 1000009740" on GitHub-hosted runners, the machine's name
// on self-hosted ones).
func (g *FakeGitHub) Start(id int64, job, runnerName string) {
	g.API.SetJob(g.Repository, id, 1, fakegithub.Job{Name: job, RunnerName: runnerName, StartedAt: time.Now().UTC()})
	g.API.SetAttempt(g.Repository, id, 1, StatusInProgress, "")
}

// Complete ends a run with a conclusion (success, failure, cancelled); its
// job ends now.
func (g *FakeGitHub) Complete(id int64, conclusion string) {
	if g.API.Live(g.Repository, id) {
		g.API.SetAttempt(g.Repository, id, 1, StatusCompleted, conclusion)
	}
}

// Forget deletes a run: later requests for it answer 404.
func (g *FakeGitHub) Forget(id int64) { g.API.Forget(g.Repository, id) }

// Live reports whether run id is known and not completed.
func (g *FakeGitHub) Live(id int64) bool { return g.API.Live(g.Repository, id) }
