package lockcheck

import "sort"

// StateKinds is one state's view during a move from the DynamoDB lock
// table to S3 lock files: which lock kinds are seen on it now, and whether
// its digest item is a leftover.
type StateKinds struct {
	LockPath string
	// DynamoDBLock and LockFile say which locks are held on it now.
	DynamoDBLock bool
	LockFile     bool
	// Digest says a digest item exists (DigestStatus when it was checked).
	Digest       bool
	DigestStatus DigestStatus
	// LeftoverDigest flags a digest item on a state whose locks are lock
	// files only: only runs with dynamodb_table update it, so it goes
	// stale, and the next run with the table set fails on it.
	LeftoverDigest bool
}

// MigrationView joins the locks read by detect with the digest items
// checked beside them, one row per state that has either.
func MigrationView(verdicts []Verdict, digests *DigestReport) []StateKinds {
	rows := map[string]*StateKinds{}
	row := func(p string) *StateKinds {
		if rows[p] == nil {
			rows[p] = &StateKinds{LockPath: p}
		}
		return rows[p]
	}
	for _, v := range verdicts {
		r := row(v.Lock.LockPath)
		r.DynamoDBLock = r.DynamoDBLock || v.Lock.HasSource(SourceDynamoDB)
		r.LockFile = r.LockFile || v.Lock.HasSource(SourceS3)
	}
	lockFileRuns := map[string]bool{}
	if digests != nil {
		for _, c := range digests.Checks {
			r := row(c.LockPath)
			r.Digest, r.DigestStatus = true, c.Status
			lockFileRuns[c.LockPath] = c.CauseKind == CauseLockFileOnly
		}
	}
	out := make([]StateKinds, 0, len(rows))
	for _, r := range rows {
		r.LeftoverDigest = r.Digest && ((r.LockFile && !r.DynamoDBLock) || lockFileRuns[r.LockPath])
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LockPath < out[j].LockPath })
	return out
}
