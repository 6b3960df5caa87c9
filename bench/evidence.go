package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// evidenceRow is detect on n locks owned by n distinct runs, every one
// completed, with GitHub answering each request after the latency: the
// evidence path (each run's attempt and its jobs) measured, not skipped.
type evidenceRow struct {
	runs        int
	latency     time.Duration
	detect      []measurement
	maxInFlight int
}

// bound is the least time the evidence path can take: its requests, as
// many at once as detect sends, each taking the latency.
func (row evidenceRow) bound() time.Duration {
	if row.maxInFlight == 0 {
		return 0
	}
	return time.Duration(ghCalls(row.detect)) * row.latency / time.Duration(row.maxInFlight)
}

func (e *env) evidencePath(ctx context.Context, r *results, runs int) error {
	s := newSpec(4*runs, runs) // runs locks, their digests, one record each, no foreign items
	step("evidence path: %d locks owned by %d distinct completed runs, GitHub latency %s", s.locks, s.distinct, e.o.latency)
	if err := e.seed(ctx, s, 0); err != nil {
		return err
	}
	e.github.api.SetLatency(e.o.latency)
	defer e.github.api.SetLatency(0)
	reps := e.o.reps
	if runs >= 1000 {
		reps = 1 // a minute a run at 100 ms
	}
	row := evidenceRow{runs: runs, latency: e.o.latency}
	for range reps {
		m, err := e.runDetect(ctx, s, e.binary)
		if err != nil {
			return err
		}
		// Every lock's owning run was asked about: its attempt, once.
		for i := range runs {
			path := fmt.Sprintf("/repos/%s/actions/runs/%d/attempts/1", repository, 9000000+i)
			if n := e.github.api.Count(path); n != 1 {
				return fmt.Errorf("evidence path with %d runs: %s asked %d times, want once", runs, path, n)
			}
		}
		if v := e.github.api.Violations(); len(v) > 0 {
			return fmt.Errorf("the fake GitHub broke GitHub's contract: %s", v[0])
		}
		row.detect = append(row.detect, m)
		row.maxInFlight = max(row.maxInFlight, e.github.api.MaxInFlight())
	}
	r.evidence = append(r.evidence, row)
	_, err := e.ddb.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(s.name)})
	return err
}

func (r *results) printEvidence(w io.Writer) {
	if len(r.evidence) == 0 {
		return
	}
	fmt.Fprintf(w, "\n### evidence path: detect asking GitHub about every owning run (latency %s a request)\n\n", r.evidence[0].latency)
	t := newTab(w)
	fmt.Fprintln(t, "owning runs\tlocks\tGitHub requests\tat once (max)\tdetect\tbound\tdetect/bound\truns\t")
	for _, row := range r.evidence {
		d, b := median(walls(row.detect)), row.bound()
		fmt.Fprintf(t, "%d\t%d\t%d\t%d\t%s\t%s\t%.2fx\t%d\t\n", row.runs, row.runs, ghCalls(row.detect), row.maxInFlight, ms(d), ms(b),
			float64(d)/float64(max(b, time.Millisecond)), len(row.detect))
	}
	t.Flush()
	fmt.Fprintln(w, "\nbound: GitHub requests / requests at once x latency, the least the evidence path can take at that concurrency.")
	fmt.Fprintln(w, "Every run is completed: detect asks for its attempt and the attempt's jobs (when its job on the lock's runner ended).")
}
