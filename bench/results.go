package main

import (
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"time"
)

type detectRow struct {
	spec       tableSpec
	floor      []time.Duration
	floorScans int64
	detect     []measurement
	baseline   []measurement
	compare    []measurement // -compare's binary, run for run
}

type unlockRow struct {
	n    int
	runs []measurement
}

type results struct {
	binarySize int64
	image      string
	hot        *hotPath
	detect     []detectRow
	setup      []measurement
	unlock     []unlockRow
	evidence   []evidenceRow
}

// pairRatio is the median over repetitions of detect's time / the floor's
// time in the same repetition (taken one right after the other), which a
// server that drifts during the run affects less than a ratio of medians.
func (row detectRow) pairRatio() float64 {
	var rs []float64
	for i := range min(len(row.floor), len(row.detect)) {
		rs = append(rs, float64(row.detect[i].wall)/float64(row.floor[i]))
	}
	sort.Float64s(rs)
	if len(rs) == 0 {
		return 0
	}
	return rs[len(rs)/2]
}

func walls(ms []measurement) []time.Duration {
	out := make([]time.Duration, len(ms))
	for i, m := range ms {
		out[i] = m.wall
	}
	return out
}

func rss(ms []measurement) int64 {
	xs := make([]int64, len(ms))
	for i, m := range ms {
		xs[i] = m.rssKiB
	}
	return medianInt(xs)
}

func ddbCalls(ms []measurement) int64 {
	xs := make([]int64, len(ms))
	for i, m := range ms {
		xs[i] = m.counts.DynamoDB
	}
	return medianInt(xs)
}

func ghCalls(ms []measurement) int64 {
	xs := make([]int64, len(ms))
	for i, m := range ms {
		xs[i] = m.ghCalls
	}
	return medianInt(xs)
}

func mb(kib int64) string { return fmt.Sprintf("%.1f MB", float64(kib)*1024/1e6) }

func (r *results) print(w io.Writer, o options) {
	form := "full"
	if o.short {
		form = "short (CI)"
	}
	fmt.Fprintf(w, "\n## tfstate-guard benchmark: %s form, %d repetitions, medians (%s/%s, %d CPUs)\n\n", form, o.reps, runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	fmt.Fprintf(w, "Binary: %s (go build -trimpath -ldflags \"-s -w\"). Image: %s.\n\n", mib(r.binarySize), r.image)

	if h := r.hot; h != nil {
		fmt.Fprintln(w, "### hot path")
		fmt.Fprintln(w)
		fmt.Fprintf(w, "binary start (no mode: usage, exit 2): %s, peak RSS %s\n", ms(median(h.start)), mb(h.startRSS))
		fmt.Fprintf(w, "detect on an empty table: %s, peak RSS %s, %d requests\n", ms(median(h.empty)), mb(h.emptyRSS), h.emptyCalls)
		fmt.Fprintf(w, "detect, lock-source both, %d .tflock objects in S3 and an empty table: %s, %d AWS requests\n", lockFiles, ms(median(h.both)), h.bothCalls)
		if len(h.cStart) > 0 {
			fmt.Fprintf(w, "-compare build: start %s, empty table %s, lock-source both %s\n", ms(median(h.cStart)), ms(median(h.cEmpty)), ms(median(h.cBoth)))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "### detect (every lock owned by a completed run: all stale)")
	fmt.Fprintln(w)
	t := newTab(w)
	fmt.Fprintln(t, "items\tlocks\truns\tfloor\tdetect\tbaseline\tdetect/floor\tdetect over floor\tbaseline over floor\toverhead ratio\tdetect RSS\tbaseline RSS\tDynamoDB req floor/detect/baseline\tGitHub req\t")
	for _, row := range r.detect {
		f, d := median(row.floor), median(walls(row.detect))
		b, bo, ratio, brss, breq := "-", "-", "-", "-", "-"
		if len(row.baseline) > 0 {
			bm := median(walls(row.baseline))
			b, bo = ms(bm), ms(bm-f)
			ratio = fmt.Sprintf("%.1fx", float64(bm-f)/float64(max(d-f, time.Millisecond)))
			brss, breq = mb(rss(row.baseline)), fmt.Sprint(ddbCalls(row.baseline))
		}
		fmt.Fprintf(t, "%d\t%d\t%d\t%s\t%s\t%s\t%.2fx\t%s\t%s\t%s\t%s\t%s\t%d/%d/%s\t%d\t\n",
			row.spec.size, row.spec.locks, row.spec.distinct, ms(f), ms(d), b, row.pairRatio(), ms(d-f), bo, ratio,
			mb(rss(row.detect)), brss, row.floorScans, ddbCalls(row.detect), breq, ghCalls(row.detect))
	}
	t.Flush()
	fmt.Fprintln(w, "\nfloor: a bare paginated Scan (fresh client, in process). baseline: bench/baseline.sh (aws dynamodb scan | python3).")
	fmt.Fprintln(w, "detect/floor: median over repetitions of the two taken back to back. overhead ratio: baseline's time above the floor / detect's time above the floor.")

	if len(r.detect) > 0 && len(r.detect[0].compare) > 0 {
		fmt.Fprintln(w, "\n### detect: this build against the -compare build, run for run")
		fmt.Fprintln(w)
		t := newTab(w)
		fmt.Fprintln(t, "items\truns\tcompare\tthis build\tthis/compare\tcompare RSS\tthis RSS\t")
		for _, row := range r.detect {
			var rs []float64
			for i := range min(len(row.detect), len(row.compare)) {
				rs = append(rs, float64(row.detect[i].wall)/float64(row.compare[i].wall))
			}
			sort.Float64s(rs)
			fmt.Fprintf(t, "%d\t%d\t%s\t%s\t%.2fx\t%s\t%s\t\n", row.spec.size, row.spec.distinct, ms(median(walls(row.compare))), ms(median(walls(row.detect))),
				rs[len(rs)/2], mb(rss(row.compare)), mb(rss(row.detect)))
		}
		t.Flush()
	}

	if len(r.setup) > 0 {
		fmt.Fprintln(w, "\n### setup on an existing, correct backend")
		fmt.Fprintln(w)
		last := r.setup[len(r.setup)-1].counts
		var ops []string
		for op, n := range last.ByOp {
			ops = append(ops, fmt.Sprintf("%s x%d", op, n))
		}
		sort.Strings(ops)
		var writes []string
		for op, n := range last.Writes {
			writes = append(writes, fmt.Sprintf("%s x%d", op, n))
		}
		sort.Strings(writes)
		fmt.Fprintf(w, "time %s, %d requests (%d DynamoDB, %d S3), accepted writes: %s\n", ms(median(walls(r.setup))), last.total(), last.DynamoDB, last.S3, orNone(writes))
		fmt.Fprintf(w, "requests: %s\n", strings.Join(ops, ", "))
	}

	if len(r.unlock) > 0 {
		fmt.Fprintln(w, "\n### unlock of approved stale locks")
		fmt.Fprintln(w)
		t := newTab(w)
		fmt.Fprintln(t, "locks\ttime\tDynamoDB req\tGitHub req\tpeak RSS\t")
		for _, row := range r.unlock {
			fmt.Fprintf(t, "%d\t%s\t%d\t%d\t%s\t\n", row.n, ms(median(walls(row.runs))), ddbCalls(row.runs), ghCalls(row.runs), mb(rss(row.runs)))
		}
		t.Flush()
	}
	r.printEvidence(w)
	r.targets(w)
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// targets reads the figures against issue 12's targets. It prints; it
// never fails the run (timings on a shared machine are not pass/fail).
func (r *results) targets(w io.Writer) {
	fmt.Fprintln(w, "\n### targets")
	fmt.Fprintln(w)
	say := func(ok bool, format string, args ...any) {
		mark := "MET    "
		if !ok {
			mark = "NOT MET"
		}
		fmt.Fprintf(w, "- [%s] %s\n", mark, fmt.Sprintf(format, args...))
	}
	bySize := map[int][]detectRow{}
	for _, row := range r.detect {
		bySize[row.spec.size] = append(bySize[row.spec.size], row)
	}
	var sizes []int
	for s := range bySize {
		sizes = append(sizes, s)
	}
	sort.Ints(sizes)
	for _, s := range sizes {
		if s < 1000 {
			continue
		}
		for _, row := range bySize[s] {
			f, d := median(row.floor), median(walls(row.detect))
			say(row.pairRatio() <= 1.25, "detect within 1.25x of the floor at %d items, %d runs: %.2fx (medians %s vs %s)", s, row.spec.distinct, row.pairRatio(), ms(d), ms(f))
			if len(row.baseline) > 0 {
				bm := median(walls(row.baseline))
				ratio := float64(bm-f) / float64(max(d-f, time.Millisecond))
				say(ratio >= 20, "overhead above the floor >= 20x smaller than the baseline's at %d items: %.1fx (%s vs %s)", s, ratio, ms(d-f), ms(bm-f))
			}
		}
	}
	if rows := bySize[10000]; len(rows) > 0 {
		var peak int64
		for _, row := range rows {
			for _, m := range row.detect {
				peak = max(peak, m.rssKiB)
			}
		}
		say(float64(peak)*1024 < 64e6, "peak RSS of detect under 64 MB at 10,000 items: %s (highest of every run)", mb(peak))
	}
	if len(r.setup) > 0 {
		ok := true
		var n int64
		for _, m := range r.setup {
			for op, c := range m.counts.Writes {
				n += c
				if op != "dynamodb:PutItem (run record)" || c != 1 {
					ok = false
				}
			}
		}
		say(ok && n == int64(len(r.setup)), "setup on a correct backend only reads, plus its run record (%d accepted writes over %d runs)", n, len(r.setup))
	}
	if len(sizes) >= 2 {
		var parts []string
		okAll := true
		for _, pick := range []struct {
			name string
			f    func(detectRow) time.Duration
		}{
			{"floor", func(row detectRow) time.Duration { return median(row.floor) }},
			{"detect", func(row detectRow) time.Duration { return median(walls(row.detect)) }},
		} {
			var per []string
			var rates []float64
			for i := 1; i < len(sizes); i++ {
				a, b := bySize[sizes[i-1]][0], bySize[sizes[i]][0]
				rate := float64(pick.f(b)-pick.f(a)) / float64(time.Millisecond) / (float64(sizes[i]-sizes[i-1]) / 1000)
				rates = append(rates, rate)
				per = append(per, fmt.Sprintf("%.0f ms/1k items (%d-%d)", rate, sizes[i-1], sizes[i]))
			}
			// Linear: the cost of another thousand items does not grow with the table.
			if len(rates) >= 2 && rates[len(rates)-1] > 1.5*rates[len(rates)-2] {
				okAll = false
			}
			parts = append(parts, pick.name+" "+strings.Join(per, ", "))
		}
		say(okAll, "wall time linear in table size (the cost per 1,000 more items does not grow by more than 1.5x): %s", strings.Join(parts, "; "))
	}
}
