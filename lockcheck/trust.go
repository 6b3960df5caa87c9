package lockcheck

import (
	"regexp"
	"strings"
)

// Table items and lock files are written by whoever can write the table or
// the bucket: this file holds the checks that keep such content from
// becoming an output, or a removal, it was never meant to be.

// lockIDPattern is what a Terraform lock ID looks like (a UUID) with room
// for other tools; anything else (commas, spaces, quotes, `$`, control
// characters) cannot travel safely in a comma-separated output that callers
// put into scripts.
var lockIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// ValidLockID reports whether id may appear in an ID list (LOCK_IDS,
// UNLOCKED_LOCK_IDS, AUTO_UNLOCKED_LOCK_IDS, ...) and be approved or removed.
// Every ID list output passes through it.
func ValidLockID(id string) bool { return lockIDPattern.MatchString(id) }

// UnderPrefix reports whether path is prefix or lies below it, by whole
// "/"-separated segments: "bkt/app" holds "bkt/app" and "bkt/app/x", never
// "bkt/app-legacy/x". A prefix ending in "/" holds what is below it only.
// The empty prefix holds everything.
func UnderPrefix(path, prefix string) bool {
	switch {
	case prefix == "":
		return true
	case strings.HasSuffix(prefix, "/"):
		return strings.HasPrefix(path, prefix)
	default:
		return path == prefix || strings.HasPrefix(path, prefix+"/")
	}
}

// IsReservedKey reports whether a table key belongs to this action (run
// records, leases, anything under KeyNamespace): never a Terraform lock,
// whatever attributes the item carries.
func IsReservedKey(lockID string) bool { return strings.HasPrefix(lockID, KeyNamespace) }

// StateKeys are the table keys one state's readers need, in the order
// table-read: state reads them: the lock, the run record and the lease.
// The digest (lockPath + "-md5") is Terraform's and never read as a lock.
func StateKeys(lockPath string) []string {
	return []string{lockPath, StateRecordPrefix + lockPath, LeaseKeyPrefix + lockPath}
}
