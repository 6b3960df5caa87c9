package lockcheck

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"
	"github.com/text2agent/tfstate-guard/internal/fakegithub"
	"github.com/text2agent/tfstate-guard/internal/locktest"
	"github.com/text2agent/tfstate-guard/internal/motoserver"
)

// countingTransport counts HTTP round trips.
type countingTransport struct {
	base http.RoundTripper
	n    atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(r)
}

// BenchmarkDetect measures a whole detect against a real moto table holding
// N locks, each with the run record of its own run, whose job on the lock's
// host ended after taking it, plus their digest items; GitHub is the
// internal/fakegithub stand-in. It reports AWS and GitHub
// round trips per detect beside the time.
func BenchmarkDetect(b *testing.B) {
	for _, records := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("records=%d", records), func(b *testing.B) {
			srv := motoserver.Shared(b)
			aws3 := &countingTransport{base: http.DefaultTransport}
			cfg := srv.AWSConfig("eu-west-2")
			cfg.HTTPClient = &http.Client{Transport: aws3}
			ddb := dynamodb.NewFromConfig(cfg)
			ctx := context.Background()
			table := uniqueName("bench")
			locktest.CreateTable(b, ddb, table)
			created := time.Now().Add(-time.Hour).Truncate(time.Second)
			gh := fakegithub.New()
			for i := 0; i < records; i++ {
				path := fmt.Sprintf("bucket/state-%03d/terraform.tfstate", i)
				host, runner := fmt.Sprintf("runnervm%03d", i), fmt.Sprintf("GitHub Actions %d", 1000+i)
				info := infoJSON(fmt.Sprintf("id-%03d", i), path, "runner@"+host, created)
				for _, item := range []map[string]types.AttributeValue{
					{"LockID": &types.AttributeValueMemberS{Value: path}, "Info": &types.AttributeValueMemberS{Value: info}},
					{"LockID": &types.AttributeValueMemberS{Value: path + "-md5"}, "Digest": &types.AttributeValueMemberS{Value: "0123"}},
				} {
					_, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item})
					require.NoError(b, err)
				}
				require.NoError(b, WriteRunRecord(ctx, ddb, table, RunRecord{LockPath: path, Repository: "octo/infra",
					RunID: int64(1000 + i), RunAttempt: 1, Job: "apply", RunnerName: runner, Host: host, HostExclusive: true, Written: created.Add(-time.Minute)}))
				gh.End("octo/infra", int64(1000+i), 1, "cancelled", runner, created.Add(time.Minute))
			}
			api := httptest.NewServer(gh)
			defer api.Close()

			aws3.n.Store(0)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				runs, err := NewGitHubRuns(api.URL, "tok", nil, DefaultRetryPolicy())
				require.NoError(b, err)
				det, err := (&Detector{Stores: []Store{&DynamoDBStore{API: ddb, Table: table}},
					Classifier: &Classifier{Policy: Policy{ActiveWithin: 10 * time.Minute, StaleAfter: 30 * time.Minute, RecordSkew: DefaultRecordSkew, Repository: "octo/infra"},
						Runs: runs, Now: time.Now}}).Detect(ctx)
				require.NoError(b, err)
				require.Len(b, det.Stale(), records)
				require.Equal(b, EvidenceDefinitive, det.Stale()[0].Evidence)
			}
			b.StopTimer()
			b.ReportMetric(float64(aws3.n.Load())/float64(b.N), "aws-calls/op")
			b.ReportMetric(float64(gh.Requests(""))/float64(b.N), "github-calls/op")
		})
	}
}
