package backend

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/text2agent/tfstate-guard/lockcheck"
)

// BenchmarkSetupExistingBackend measures setup on a backend that exists and
// is right, as in every CI job after the first: round trips per setup (all
// reads but the run record) and time against the local server.
//
// moto refuses object requests under the TLS-only policy (see
// policyNoProbe), so the production call set is measured in two halves:
// "probe" has the permission probe and no policy step, "policy" the policy
// step and no probe. A real run makes the calls of "probe" plus one
// GetBucketPolicy.
func BenchmarkSetupExistingBackend(b *testing.B) {
	for _, bc := range []struct {
		name   string
		method LockMethod
		policy bool
	}{
		{"dynamodb/probe", LockDynamoDB, false},
		{"dynamodb/policy", LockDynamoDB, true},
		{"both/probe", LockBoth, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s3c, ddb, calls := clients(b, "eu-west-2")
			o := probeNoPolicy(options(b, "eu-west-2"))
			if bc.policy {
				o = policyNoProbe(options(b, "eu-west-2"))
			}
			o.LockMethod = bc.method
			o.Tags = map[string]string{"team": "platform"}
			o.RunRecord = &lockcheck.RunRecord{Repository: "text2agent/infra", RunID: 1, RunAttempt: 1, Job: "plan"}
			ctx := ctxT(b)
			_, err := Setup(ctx, s3c, ddb, o)
			require.NoError(b, err)
			calls.Reset()
			b.ResetTimer()
			for b.Loop() {
				if _, err := Setup(ctx, s3c, ddb, o); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(calls.Count())/float64(b.N), "round-trips/op")
			b.ReportMetric(float64(len(calls.Writes()))/float64(b.N), "writes/op")
			if b.N > 0 {
				b.Logf("calls per setup: %v", perOp(calls.ByOperation(), b.N))
			}
		})
	}
}

func perOp(m map[string]int, n int) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = float64(v) / float64(n)
	}
	return out
}
