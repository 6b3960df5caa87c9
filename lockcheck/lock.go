// Package lockcheck owns Terraform state locks: reading them from where
// Terraform keeps them (a DynamoDB table, S3 .tflock objects), tying each to
// the CI run that owns it, classifying it as active or stale, and removing
// exactly the approved stale ones. It never imports the Actions toolkit.
package lockcheck

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Info is Terraform's lock metadata (statemgr.LockInfo), as it serialises it
// into the DynamoDB `Info` attribute and the body of a .tflock object. The
// JSON keys are the Go field names: Terraform's struct carries no tags.
type Info struct {
	ID        string `json:"ID"`
	Operation string `json:"Operation"`
	Info      string `json:"Info"`
	Who       string `json:"Who"`
	Version   string `json:"Version"`
	Created   string `json:"Created"`
	Path      string `json:"Path"`
}

// Source names where a lock was read from.
type Source string

const (
	SourceDynamoDB Source = "dynamodb"
	SourceS3       Source = "s3"
)

// Lock is one Terraform state lock as read, with whatever could be parsed.
// A lock whose Info is not JSON, or lacks fields, is still a Lock: Raw keeps
// the original text and ParseProblem says what was wrong.
type Lock struct {
	// LockPath is "<bucket>/<state path>": the DynamoDB LockID, or the
	// bucket and the .tflock key without its suffix.
	LockPath string
	Info     Info
	// Created is Info.Created parsed; zero when missing or unreadable.
	Created time.Time
	// Raw is the Info text exactly as stored: the condition for a safe delete.
	Raw string
	// ParseProblem is empty when Info parsed cleanly.
	ParseProblem string
	// Sources lists where the lock was found: one entry per place.
	Sources []Location
	// Lease is the freshest lease naming this lock (path and ID), kept by
	// the `tfstate-guard run` that took it; nil when there is none.
	Lease *Lease
	// LeaseNote says what a lease that decided nothing showed.
	LeaseNote string
}

// Location is one place a lock is stored.
type Location struct {
	Source Source
	// Table is the DynamoDB table (SourceDynamoDB).
	Table string
	// Bucket, Key and ETag locate a .tflock object (SourceS3).
	Bucket string
	Key    string
	ETag   string
	// Raw is the lock body as read here: the DynamoDB Info attribute or the
	// .tflock object's content. A safe removal is conditioned on it.
	Raw string
}

// ID is the Terraform lock ID users pass to `terraform force-unlock`.
func (l Lock) ID() string { return l.Info.ID }

// Host is the hostname part of Who (`user@host`), or all of Who when it has no @.
func (l Lock) Host() string {
	who := l.Info.Who
	if i := strings.LastIndexByte(who, '@'); i >= 0 {
		return who[i+1:]
	}
	return who
}

// HasSource reports whether the lock was found in s.
func (l Lock) HasSource(s Source) bool {
	for _, loc := range l.Sources {
		if loc.Source == s {
			return true
		}
	}
	return false
}

// ParseLock builds a Lock from its stored path and Info text. It never
// fails: problems are recorded in ParseProblem so the lock is still reported.
func ParseLock(lockPath, raw string, loc Location) Lock {
	loc.Raw = raw
	l := Lock{LockPath: lockPath, Raw: raw, Sources: []Location{loc}}
	var problems []string
	if err := json.Unmarshal([]byte(raw), &l.Info); err != nil {
		problems = append(problems, fmt.Sprintf("Info is not Terraform lock JSON: %v", err))
	}
	if l.Info.ID == "" {
		problems = append(problems, "no lock ID")
	}
	if l.Info.Created == "" {
		problems = append(problems, "no creation time")
	} else if t, err := time.Parse(time.RFC3339Nano, l.Info.Created); err != nil {
		problems = append(problems, fmt.Sprintf("creation time %q is not RFC 3339", l.Info.Created))
	} else {
		l.Created = t.UTC()
	}
	l.ParseProblem = strings.Join(problems, "; ")
	return l
}

// StatePath is the state object key inside its bucket: LockPath without the
// leading "<bucket>/".
func (l Lock) StatePath() string {
	if _, after, ok := strings.Cut(l.LockPath, "/"); ok {
		return after
	}
	return l.LockPath
}

// WorkspacePath returns the lock path Terraform's S3 backend uses for a
// workspace: the key for "default", "<prefix>/<workspace>/<key>" otherwise.
// An empty prefix means Terraform's default, "env:".
func WorkspacePath(bucket, key, workspacePrefix, workspace string) string {
	if workspace == "" || workspace == "default" {
		return bucket + "/" + key
	}
	if workspacePrefix == "" {
		workspacePrefix = "env:"
	}
	return bucket + "/" + workspacePrefix + "/" + workspace + "/" + key
}
