package lockcheck

import "time"

// OwnerJob names the job of the verdict's owning run that took the lock,
// for people to read: the job of the latest run record of the lock's state
// written by that run and attempt, else the one job of the owner's
// attempt. "" when neither names it.
func (d *Detection) OwnerJob(v Verdict) string {
	o := v.Owner
	if o == nil || o.ID == 0 {
		return ""
	}
	var job string
	var at time.Time
	for _, r := range d.recordsByPath[v.Lock.LockPath] {
		if r.RunID != o.ID || r.Job == "" || (o.Attempt != 0 && r.RunAttempt != 0 && r.RunAttempt != o.Attempt) {
			continue
		}
		if job == "" || r.Written.After(at) {
			job, at = r.Job, r.Written
		}
	}
	if job == "" && len(o.Jobs) == 1 {
		job = o.Jobs[0].Name
	}
	return job
}
