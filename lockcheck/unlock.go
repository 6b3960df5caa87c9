package lockcheck

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Outcome is what unlock did with one approved lock ID.
type Outcome string

const (
	OutcomeRemoved     Outcome = "removed"
	OutcomeAlreadyGone Outcome = "already-released"
	OutcomeRefused     Outcome = "refused"
	// OutcomeNotFound: no lock holds the ID and nothing proves it was
	// released since approval (no lock-details for it): likely a typo.
	OutcomeNotFound Outcome = "not-found"
)

// Approved is one lock a person approved for removal. Path, Who and
// Created are known when the approval carried detect's LOCK_DETAILS; they
// let unlock notice a state that was released and locked again since, and a
// lock that kept its ID but not its owner or time (a forged or re-written
// lock is not the one the person saw).
type Approved struct {
	ID   string
	Path string
	// Detailed says Who and Created were approved (from LOCK_DETAILS) and
	// must match the lock before it is removed.
	Detailed bool
	Who      string
	Created  string
}

// UnlockResult reports one approved ID.
type UnlockResult struct {
	ID       string
	LockPath string
	Outcome  Outcome
	// Evidence is the strength of the owner evidence when the lock was
	// re-classified (empty when it was not found).
	Evidence Evidence
	Reason   string
	// Removed lists where the lock was removed from; Left where it is still
	// held (a lock in two stores whose second removal failed).
	Removed []Source
	Left    []Source
	// Err is set when an AWS call failed (as opposed to a safe refusal).
	Err error
}

// Unlocker removes exactly the approved stale locks.
type Unlocker struct {
	Stores         []Store
	Classifier     *Classifier
	LockPathPrefix string
	// RequireEvidence, when set, refuses a lock whose re-classification is
	// not stale with this evidence (auto-unlock: definitive only).
	RequireEvidence Evidence
	// Holds are the hold-locks patterns: a lock they match is never removed.
	Holds Holds
}

// ParseLockIDs splits comma- or newline-separated lock IDs, trimming space
// and dropping empties and repeats, in order.
func ParseLockIDs(s string) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		f = strings.TrimSpace(f)
		if f != "" && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

// Unlock checks access to every store, reads every lock again with
// consistent reads, and for each approved ID removes the lock that holds it
// only if it is still stale by the detect rules and unchanged; it verifies
// each removal. It returns an error only when the stores cannot be used at
// all; per-lock failures are in the results.
func (u *Unlocker) Unlock(ctx context.Context, approved []Approved) ([]UnlockResult, error) {
	for _, st := range u.Stores {
		if err := st.Check(ctx); err != nil {
			return nil, err
		}
	}
	locks, records, _, err := readStores(ctx, u.Stores, u.LockPathPrefix)
	if err != nil {
		return nil, err
	}
	byID := map[string][]Lock{}
	byPath := map[string][]Lock{}
	for _, l := range locks {
		byID[l.ID()] = append(byID[l.ID()], l)
		byPath[l.LockPath] = append(byPath[l.LockPath], l)
	}
	var approvedLocks []Lock
	for _, a := range approved {
		approvedLocks = append(approvedLocks, byID[a.ID]...)
	}
	u.Classifier.Prefetch(ctx, approvedLocks, records)
	recordsOf := recordsByPath(records) // as detect classifies: against the lock's own path
	var results []UnlockResult
	for _, a := range approved {
		results = append(results, u.unlockOne(ctx, a, byID[a.ID], byPath, recordsOf))
	}
	return results, nil
}

func (u *Unlocker) unlockOne(ctx context.Context, a Approved, held []Lock, byPath map[string][]Lock, recordsOf map[string][]RunRecord) UnlockResult {
	res := UnlockResult{ID: a.ID, LockPath: a.Path}
	switch {
	case a.ID == "":
		res.Outcome, res.Reason = OutcomeRefused, "an empty lock ID cannot be approved"
		return res
	case !ValidLockID(a.ID):
		res.Outcome, res.Reason = OutcomeRefused, fmt.Sprintf("%q is not a lock ID (letters, digits and . _ : - only): never approved or removed", a.ID)
		return res
	case len(held) == 0:
		if others := byPath[a.Path]; a.Path != "" && len(others) > 0 {
			res.Outcome = OutcomeRefused
			res.Reason = fmt.Sprintf("lock %s was released, and the state was locked again since approval by lock %s (%s); nothing removed",
				a.ID, others[0].ID(), others[0].Info.Who)
			return res
		}
		return u.notHeld(a, res)
	case len(held) > 1:
		paths := make([]string, 0, len(held))
		for _, l := range held {
			paths = append(paths, l.LockPath)
		}
		sort.Strings(paths)
		res.Outcome = OutcomeRefused
		res.Reason = fmt.Sprintf("lock ID is held by %d different states (%s): not a lock Terraform wrote; remove by hand", len(held), strings.Join(paths, ", "))
		return res
	}
	lock := held[0]
	res.LockPath = lock.LockPath
	if a.Path != "" && a.Path != lock.LockPath {
		res.Outcome = OutcomeRefused
		res.Reason = fmt.Sprintf("approved for state %q but now held on %q", a.Path, lock.LockPath)
		return res
	}
	if a.Detailed && (a.Who != lock.Info.Who || a.Created != lock.Info.Created) {
		res.Outcome = OutcomeRefused
		res.Reason = fmt.Sprintf("the lock holding this ID is not the one approved: approved who %q created %q, now who %q created %q; nothing removed",
			a.Who, a.Created, lock.Info.Who, lock.Info.Created)
		return res
	}
	v := classifyOrHold(ctx, u.Classifier, u.Holds, lock, recordsOf[lock.LockPath])
	res.Evidence = v.Evidence
	if v.Status == StatusHeld {
		res.Outcome, res.Reason = OutcomeRefused, "the lock is "+v.Reason
		return res
	}
	if v.Status != StatusStale {
		res.Outcome, res.Reason = OutcomeRefused, "the lock is active again: "+v.Reason
		return res
	}
	if u.RequireEvidence != "" && v.Evidence != u.RequireEvidence {
		res.Outcome, res.Reason = OutcomeRefused, fmt.Sprintf("its evidence is now %s, not %s; left for a person: %s", v.Evidence, u.RequireEvidence, v.Reason)
		return res
	}
	u.removeEverywhere(ctx, lock, v.Reason, &res)
	return res
}

// notHeld decides an approved ID no lock holds. It was released since
// approval only when the approval's lock-details put it on a state this
// unlock read (inside lock-id-prefix); otherwise the ID names no lock this
// run can see, most likely a typo, and nothing proves otherwise.
func (u *Unlocker) notHeld(a Approved, res UnlockResult) UnlockResult {
	switch {
	case a.Path != "" && UnderPrefix(a.Path, u.LockPathPrefix):
		res.Outcome, res.Reason = OutcomeAlreadyGone, fmt.Sprintf("no lock holds this ID any more, and it held state %s at approval: it was already released", a.Path)
	case a.Path != "":
		res.Outcome = OutcomeNotFound
		res.Reason = fmt.Sprintf("approved for state %s, outside lock-id-prefix %q: a lock outside the prefix is never read or touched", a.Path, u.LockPathPrefix)
	case u.LockPathPrefix != "":
		res.Outcome = OutcomeNotFound
		res.Reason = fmt.Sprintf("no lock under lock-id-prefix %q holds this ID, and no lock-details show it was released since approval: check the ID for a typo (detect lists the IDs)", u.LockPathPrefix)
	default:
		res.Outcome = OutcomeNotFound
		res.Reason = "no lock holds this ID, and no lock-details show it was released since approval: check the ID for a typo (detect lists the IDs)"
	}
	return res
}

// removeEverywhere removes the lock from each store holding it, S3 first,
// re-reading before and after each conditional removal.
func (u *Unlocker) removeEverywhere(ctx context.Context, lock Lock, staleReason string, res *UnlockResult) {
	locs := append([]Location(nil), lock.Sources...)
	sort.SliceStable(locs, func(i, j int) bool { return locs[i].Source == SourceS3 && locs[j].Source != SourceS3 })
	var refusals []string
	for i, loc := range locs {
		st := u.storeFor(loc)
		if st == nil {
			res.Err = fmt.Errorf("no store configured for %s", loc.Source)
			break
		}
		reason, err := removeVerified(ctx, st, lock.LockPath, loc)
		if err != nil || reason != "" {
			for _, rest := range locs[i:] {
				res.Left = append(res.Left, rest.Source)
			}
			if err != nil {
				res.Err = err
				refusals = append(refusals, err.Error())
			} else {
				refusals = append(refusals, reason)
			}
			break
		}
		res.Removed = append(res.Removed, loc.Source)
	}
	if len(refusals) == 0 {
		res.Outcome = OutcomeRemoved
		res.Reason = "removed after checking it was still stale: " + u.reasonOf(lock) + "; " + staleReason
		return
	}
	res.Outcome = OutcomeRefused
	res.Reason = strings.Join(refusals, "; ")
	if len(res.Removed) > 0 {
		res.Reason += fmt.Sprintf("; removed from %s, still held in %s", joinSources(res.Removed), joinSources(res.Left))
	}
}

func (u *Unlocker) reasonOf(lock Lock) string {
	if lock.Info.Who == "" {
		return "held by an unknown owner"
	}
	return "held by " + lock.Info.Who
}

// removeVerified re-reads, removes if unchanged and confirms. A non-empty
// reason is a safe refusal; an error is a failed AWS call.
func removeVerified(ctx context.Context, st Store, lockPath string, loc Location) (string, error) {
	raw, cur, present, err := st.Current(ctx, lockPath, loc)
	if err != nil {
		return "", err
	}
	if !present {
		return "", nil // gone from this store already: nothing to remove
	}
	if raw != loc.Raw || (loc.ETag != "" && cur.ETag != loc.ETag) {
		return fmt.Sprintf("the lock in %s changed since it was read; left in place", st.Name()), nil
	}
	if err := st.RemoveIfUnchanged(ctx, lockPath, loc.Raw, loc); err != nil {
		// The delete may have happened even so: when its answer is lost
		// (cut short, connection reset) the SDK retries, and the retry
		// finds the lock gone (a refusal) or fails outright. Look before
		// saying what is left.
		raw, _, present, rerr := st.Current(ctx, lockPath, loc)
		if rerr == nil && !present {
			return "", nil
		}
		if errors.Is(err, ErrLockChanged) {
			return fmt.Sprintf("%s refused the conditional delete: the lock changed or was re-taken; left in place", st.Name()), nil
		}
		if rerr == nil && raw != loc.Raw {
			return fmt.Sprintf("the lock in %s changed while it was being removed; left in place", st.Name()), nil
		}
		return "", err
	}
	raw, _, present, err = st.Current(ctx, lockPath, loc)
	if err != nil {
		return "", fmt.Errorf("verify removal from %s: %w", st.Name(), err)
	}
	if present && raw == loc.Raw {
		return "", fmt.Errorf("the lock is still in %s after a successful delete", st.Name())
	}
	return "", nil
}

func (u *Unlocker) storeFor(loc Location) Store {
	for _, st := range u.Stores {
		if st.Holds(loc) {
			return st
		}
	}
	return nil
}

func joinSources(ss []Source) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, " and ")
}
