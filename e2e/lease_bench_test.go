package e2e

import (
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/text2agent/tfstate-guard/internal/reliability"
	"github.com/text2agent/tfstate-guard/lockcheck"
)

// BenchmarkWrapperOverheadOnPlan measures what `tfstate-guard run` adds to
// the wall time of `terraform plan` (target: <= 50 ms): the same plan,
// bare and wrapped, one after the other, against moto on this machine.
func BenchmarkWrapperOverheadOnPlan(b *testing.B) {
	for _, tc := range leaseMethods {
		b.Run(tc.name, func(b *testing.B) {
			be := newBackend(b)
			w := newWorkdir(b, be, "bench/terraform.tfstate", tc.method)
			w.mustRun("apply", "-auto-approve", "-input=false")
			// Medians: on a shared machine one slow run would swamp a mean.
			var bare, wrapped, overhead []float64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				w.mustRun("plan", "-lock-timeout=0s", "-input=false")
				tb := time.Since(start)
				start = time.Now()
				r := w.wrap(nil, nil, "plan", "-lock-timeout=0s", "-input=false")
				require.Equal(b, 0, r.exit(b, time.Minute), r.out.String())
				tw := time.Since(start)
				bare, wrapped = append(bare, ms(tb)), append(wrapped, ms(tw))
				overhead = append(overhead, ms(tw-tb))
			}
			b.ReportMetric(median(bare), "bare-ms")
			b.ReportMetric(median(wrapped), "wrapped-ms")
			b.ReportMetric(median(overhead), "overhead-ms")
		})
	}
}

// BenchmarkLeaseWritesPerHour counts the lease writes a wrapped apply
// makes (through a counting proxy) and gives them per hour of apply at the
// measured interval and at the default 15 s.
func BenchmarkLeaseWritesPerHour(b *testing.B) {
	for _, tc := range leaseMethods {
		b.Run(tc.name, func(b *testing.B) {
			be := newBackend(b)
			proxy, err := reliability.NewProxy(be.srv.URL)
			require.NoError(b, err)
			b.Cleanup(proxy.Close)
			key := "bench-lease/terraform.tfstate"
			leaseKeys := map[string]bool{lockcheck.LeaseKey(be.bucket + "/" + key): true, lockcheck.LeaseObjectKey(key): true}
			var writes atomic.Int64
			proxy.SetFault(func(c reliability.Call) reliability.Action {
				if leaseKeys[c.Key] && (c.Op == "PutItem" || c.Op == "PUT") {
					writes.Add(1)
				}
				return reliability.Pass
			})
			w := newWorkdirVia(b, be, key, tc.method, proxy.URL)
			const interval = 500 * time.Millisecond
			var total time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				r := w.wrap([]string{"--lease-interval", interval.String(), "--lease-term", "3s"}, nil, "apply", "-auto-approve", "-input=false", "-var=hold=6")
				require.Equal(b, 0, r.exit(b, time.Minute), r.out.String())
				total += time.Since(start)
			}
			perHour := float64(writes.Load()) / total.Hours()
			b.ReportMetric(perHour, "writes/hour@500ms")
			b.ReportMetric(perHour*float64(interval)/float64(15*time.Second), "writes/hour@15s")
		})
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}
