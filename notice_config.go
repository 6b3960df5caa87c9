package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/text2agent/tfstate-guard/lockcheck"
)

// NoticeConfig says where detect tells people who holds a lock.
type NoticeConfig struct {
	// PRComment is auto, on or off (pr-comment).
	PRComment string
	// PR is the pull request the run is for (0: none), from the event
	// payload at GITHUB_EVENT_PATH; Event is GITHUB_EVENT_NAME.
	PR    int
	Event string
	// EventProblem says why the payload could not be read (empty when fine).
	EventProblem string
	// Webhook is notify-webhook: a secret, never printed.
	Webhook string
	// RunURL links this run (the approval is given in it); Workflow is
	// GITHUB_WORKFLOW, part of the comment's marker.
	RunURL   string
	Workflow string
}

// prEvents are the events whose payload names a pull request.
var prEvents = map[string]bool{"pull_request": true, "pull_request_target": true}

func (cfg *Config) fillHolds(s settings, bad badFunc) {
	holds, errs := lockcheck.ParseHolds(s["hold-locks"])
	for _, err := range errs {
		var he *lockcheck.HoldError
		if errors.As(err, &he) {
			bad("hold-locks", he.Line, "%s", strings.TrimPrefix(he.Error(), fmt.Sprintf("line %q ", he.Line)))
		}
	}
	cfg.Holds = holds
}

func (cfg *Config) fillNotice(s settings, getenv func(string) string, bad badFunc) {
	n := &cfg.Notice
	switch v := firstNonEmpty(s["pr-comment"], "auto"); v {
	case "auto", "on", "off":
		n.PRComment = v
	default:
		bad("pr-comment", v, "is not auto, on or off: auto comments on pull-request events only")
	}
	if w := s["notify-webhook"]; w != "" {
		if u, err := url.Parse(w); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			// The value is a secret: it is never repeated.
			bad("notify-webhook", "(value hidden: it is a secret)", "is not an http(s) URL: pass a Slack-compatible incoming webhook URL from a secret, e.g. ${{ secrets.LOCKS_WEBHOOK }}")
		} else {
			n.Webhook = w
		}
	}
	n.Event, n.Workflow = getenv("GITHUB_EVENT_NAME"), getenv("GITHUB_WORKFLOW")
	if repo, id := getenv("GITHUB_REPOSITORY"), getenv("GITHUB_RUN_ID"); repo != "" && id != "" {
		n.RunURL = fmt.Sprintf("%s/%s/actions/runs/%s", strings.TrimRight(firstNonEmpty(getenv("GITHUB_SERVER_URL"), "https://github.com"), "/"), repo, id)
	}
	if prEvents[n.Event] && n.PRComment != "off" {
		n.PR, n.EventProblem = prNumber(getenv("GITHUB_EVENT_PATH"))
	}
}

// prNumber reads pull_request.number from the event payload.
func prNumber(path string) (int, string) {
	if path == "" {
		return 0, "GITHUB_EVENT_PATH is not set"
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Sprintf("cannot read the event payload: %v", err)
	}
	var ev struct {
		PullRequest struct {
			Number int `json:"number"`
		} `json:"pull_request"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil || ev.PullRequest.Number <= 0 {
		return 0, "the event payload names no pull request (pull_request.number)"
	}
	return ev.PullRequest.Number, ""
}
