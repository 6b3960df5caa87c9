package fakegithub

import (
	"cmp"
	"fmt"
	"strings"
	"time"
)

// The JSON objects GitHub returns, with every field its published schema
// requires (contract.go checks each answer against it).

const headSHA = "009b8a3a9ccbb128af87f9b1c0f4c62e8a304f6d"

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func (x *exchange) apiBase() string {
	scheme := "http"
	if x.r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + x.r.Host
}

// runJSON is attempt n of a run as GitHub's workflow-run object.
func (a *API) runJSON(x *exchange, repo string, id int64, n int, at *Attempt) map[string]any {
	var conclusion any
	if at.Status == StatusCompleted {
		conclusion = at.Conclusion
	}
	created := at.CreatedAt
	if first := a.runs[runKey{strings.ToLower(repo), id}][1]; first != nil && first.CreatedAt.Before(created) {
		created = first.CreatedAt
	}
	api := fmt.Sprintf("%s/repos/%s/actions/runs/%d", x.apiBase(), repo, id)
	var previous any
	if n > 1 {
		previous = fmt.Sprintf("%s/attempts/%d", api, n-1)
	}
	return map[string]any{
		"id": id, "name": "terraform", "node_id": fmt.Sprintf("WFR_kwLO%d", id), "check_suite_id": id + 5000000000,
		"check_suite_node_id": fmt.Sprintf("CS_kwDO%d", id), "head_branch": "main", "head_sha": headSHA,
		"path": ".github/workflows/terraform.yml", "run_number": id%1000 + 1, "run_attempt": n, "event": "push",
		"display_title": "terraform apply", "status": at.Status, "conclusion": conclusion, "workflow_id": 161335,
		"url": api, "html_url": fmt.Sprintf("https://github.com/%s/actions/runs/%d", repo, id),
		"created_at": stamp(created), "updated_at": stamp(at.UpdatedAt), "run_started_at": stamp(at.CreatedAt),
		"actor": user(x, RunActor, 583231), "triggering_actor": user(x, RunActor, 583231),
		"jobs_url": api + "/jobs", "logs_url": api + "/logs", "check_suite_url": fmt.Sprintf("%s/repos/%s/check-suites/%d", x.apiBase(), repo, id+5000000000),
		"artifacts_url": api + "/artifacts", "cancel_url": api + "/cancel", "rerun_url": api + "/rerun",
		"previous_attempt_url": previous, "workflow_url": fmt.Sprintf("%s/repos/%s/actions/workflows/161335", x.apiBase(), repo),
		"pull_requests": []any{}, "referenced_workflows": []any{},
		"head_commit": map[string]any{
			"id": headSHA, "tree_id": "d23f6eedb1e1b9610bbc754ddb5197bfe7271223", "message": "Apply the infrastructure",
			"timestamp": stamp(created), "author": map[string]any{"name": "Monalisa Octocat", "email": "mona@github.com"},
			"committer": map[string]any{"name": "GitHub", "email": "noreply@github.com"},
		},
		"repository": repository(x, repo), "head_repository": repository(x, repo), "head_repository_id": 1296269,
	}
}

// jobView is what GitHub says of a job, consistent with its attempt: a
// completed attempt has only completed jobs, a job waiting for a runner
// has none, and a completed job always has a conclusion.
func jobView(at *Attempt, j Job) (status, conclusion string, completed time.Time) {
	status = j.Status
	switch {
	case status == StatusCompleted || !j.CompletedAt.IsZero() || at.Status == StatusCompleted:
		status, completed = StatusCompleted, j.CompletedAt
		if completed.IsZero() {
			completed = at.UpdatedAt
		}
		conclusion = j.Conclusion
		if conclusion == "" {
			conclusion = at.Conclusion
		}
		switch conclusion {
		case "success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required":
		case "":
			conclusion = "success"
		default: // stale, startup_failure: runs only
			conclusion = "failure"
		}
	case status != "":
	case at.Status == StatusWaiting:
		status = StatusWaiting
	case at.Status == StatusInProgress:
		status = StatusInProgress
	default:
		status = StatusQueued
	}
	return status, conclusion, completed
}

// jobsJSON lists attempt n's jobs as GitHub's job objects. An attempt not
// yet completed that was given no jobs lists one queued job, as GitHub
// lists a workflow's jobs as soon as the attempt exists.
func (a *API) jobsJSON(x *exchange, repo string, id int64, n int, at *Attempt) []map[string]any {
	jobs := at.Jobs
	if len(jobs) == 0 && at.Status != StatusCompleted {
		jobs = []Job{{Name: "terraform"}}
	}
	out := make([]map[string]any, 0, len(jobs))
	for i, j := range jobs {
		status, conclusion, completed := jobView(at, j)
		jobID := id*1000 + int64(n)*100 + int64(i)
		started := j.StartedAt
		if started.IsZero() {
			started = at.CreatedAt
		}
		var runnerName, runnerID, groupID, groupName, completedAt, conc any
		if j.RunnerName != "" && status != StatusQueued && status != StatusWaiting {
			runnerName, runnerID, groupID, groupName = j.RunnerName, i+1, 1, cmp.Or(j.RunnerGroup, "GitHub Actions")
			if j.RunnerGroup != "" && j.RunnerGroup != "GitHub Actions" {
				groupID = 2 // a self-hosted group
			}
		}
		if status == StatusCompleted {
			completedAt, conc = stamp(completed), conclusion
		}
		api := fmt.Sprintf("%s/repos/%s/actions", x.apiBase(), repo)
		out = append(out, map[string]any{
			"id": jobID, "run_id": id, "run_attempt": n, "node_id": fmt.Sprintf("CR_kwDO%d", jobID), "head_sha": headSHA,
			"run_url": fmt.Sprintf("%s/runs/%d", api, id), "url": fmt.Sprintf("%s/jobs/%d", api, jobID),
			"html_url":      fmt.Sprintf("https://github.com/%s/actions/runs/%d/job/%d", repo, id, jobID),
			"check_run_url": fmt.Sprintf("%s/repos/%s/check-runs/%d", x.apiBase(), repo, jobID),
			"name":          j.Name, "status": status, "conclusion": conc,
			"created_at": stamp(at.CreatedAt), "started_at": stamp(started), "completed_at": completedAt,
			"labels": []string{"ubuntu-latest"}, "runner_id": runnerID, "runner_name": runnerName,
			"runner_group_id": groupID, "runner_group_name": groupName, "workflow_name": "terraform", "head_branch": "main",
			"steps": []any{},
		})
	}
	return out
}

// user is a simple-user object.
func user(x *exchange, login string, id int64) map[string]any {
	api := x.apiBase() + "/users/" + login
	return map[string]any{
		"login": login, "id": id, "node_id": fmt.Sprintf("MDQ6VXNlcj%d", id), "type": "User", "site_admin": false,
		"avatar_url": fmt.Sprintf("https://avatars.githubusercontent.com/u/%d?v=4", id), "gravatar_id": "",
		"url": api, "html_url": "https://github.com/" + login, "followers_url": api + "/followers",
		"following_url": api + "/following{/other_user}", "gists_url": api + "/gists{/gist_id}",
		"starred_url": api + "/starred{/owner}{/repo}", "subscriptions_url": api + "/subscriptions",
		"organizations_url": api + "/orgs", "repos_url": api + "/repos", "events_url": api + "/events{/privacy}",
		"received_events_url": api + "/received_events",
	}
}

// repository is a minimal-repository object.
func repository(x *exchange, full string) map[string]any {
	owner, name, _ := strings.Cut(full, "/")
	api := x.apiBase() + "/repos/" + full
	r := map[string]any{
		"id": 1296269, "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5", "name": name, "full_name": full,
		"owner": user(x, owner, 583231), "private": true, "html_url": "https://github.com/" + full,
		"description": nil, "fork": false, "url": api,
	}
	for _, k := range []string{
		"archive_url:/{archive_format}{/ref}", "assignees_url:/assignees{/user}", "blobs_url:/git/blobs{/sha}",
		"branches_url:/branches{/branch}", "collaborators_url:/collaborators{/collaborator}", "comments_url:/comments{/number}",
		"commits_url:/commits{/sha}", "compare_url:/compare/{base}...{head}", "contents_url:/contents/{+path}",
		"contributors_url:/contributors", "deployments_url:/deployments", "downloads_url:/downloads",
		"events_url:/events", "forks_url:/forks", "git_commits_url:/git/commits{/sha}", "git_refs_url:/git/refs{/sha}",
		"git_tags_url:/git/tags{/sha}", "hooks_url:/hooks", "issue_comment_url:/issues/comments{/number}",
		"issue_events_url:/issues/events{/number}", "issues_url:/issues{/number}", "keys_url:/keys{/key_id}",
		"labels_url:/labels{/name}", "languages_url:/languages", "merges_url:/merges", "milestones_url:/milestones{/number}",
		"notifications_url:/notifications{?since,all,participating}", "pulls_url:/pulls{/number}",
		"releases_url:/releases{/id}", "stargazers_url:/stargazers", "statuses_url:/statuses/{sha}",
		"subscribers_url:/subscribers", "subscription_url:/subscription", "tags_url:/tags", "teams_url:/teams",
		"trees_url:/git/trees{/sha}",
	} {
		key, suffix, _ := strings.Cut(k, ":")
		r[key] = api + suffix
	}
	return r
}
