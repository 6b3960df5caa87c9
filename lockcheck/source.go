package lockcheck

import "context"

// Snapshot is what a source holds at one moment: the locks, and the run
// records that may name their owners.
type Snapshot struct {
	Locks   []Lock
	Records []RunRecord
	// Leases are the leases `tfstate-guard run` keeps beside its locks.
	Leases []Lease
	// Skipped counts items that are neither locks nor records, by kind
	// ("digest", "unreadable run record", "other"), so a report can say
	// what it passed over.
	Skipped map[string]int
}

func (s *Snapshot) skip(kind string) {
	if s.Skipped == nil {
		s.Skipped = map[string]int{}
	}
	s.Skipped[kind]++
}

// Store is one place Terraform keeps locks.
type Store interface {
	// Name says which store this is, for messages ("DynamoDB table \"t\"").
	Name() string
	// Snapshot reads every lock (and record) with strongly consistent reads.
	Snapshot(ctx context.Context) (Snapshot, error)
	// Current re-reads the lock at loc; present is false when it is gone.
	Current(ctx context.Context, lockPath string, loc Location) (raw string, current Location, present bool, err error)
	// RemoveIfUnchanged deletes the lock at loc only if it still holds
	// exactly raw (and, for S3, the same ETag). It returns ErrLockChanged
	// when the store refused because the lock changed or vanished.
	RemoveIfUnchanged(ctx context.Context, lockPath, raw string, loc Location) error
	// Holds reports whether loc is a place in this store.
	Holds(loc Location) bool
	// Check proves the credentials can read the store.
	Check(ctx context.Context) error
}
