package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/require"
	"github.com/text2agent/tfstate-guard/internal/fakegithub"
	"github.com/text2agent/tfstate-guard/internal/locktest"
	"github.com/text2agent/tfstate-guard/internal/motoserver"
	"github.com/text2agent/tfstate-guard/lockcheck"
)

// BenchmarkDetectHistory is issue 9's measurement: 20 states, each with 0
// or 500 CI runs of history written through setup's record writer, and 2
// locks. It runs the whole detect as the command line does and reports the
// items the table scan returns, GitHub requests and LOCK_DETAILS bytes per
// detect beside its time. With one bounded record item per state, none of
// them may grow with history.
func BenchmarkDetectHistory(b *testing.B) {
	srv := motoserver.Shared(b)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		b.Setenv(k, v)
	}
	full := 500
	if v := os.Getenv("TFSTATE_GUARD_BENCH_HISTORY"); v != "" { // CI's short form writes less history
		n, err := strconv.Atoi(v)
		require.NoError(b, err, "TFSTATE_GUARD_BENCH_HISTORY")
		full = n
	}
	type shape struct {
		history int
		owned   bool // every state locked by its last recorded run, which ended after locking
	}
	for _, sh := range []shape{{0, false}, {full, false}, {30, true}, {full, true}} {
		history := sh.history
		b.Run(fmt.Sprintf("states=20/history=%d/owned-locks=%t", history, sh.owned), func(b *testing.B) {
			ctx := context.Background()
			ddb := srv.DynamoDB("eu-west-2")
			table := locktest.UniqueName("history")
			locktest.CreateTable(b, ddb, table)
			gh := fakegithub.New()
			start := time.Now().Add(-30 * 24 * time.Hour)
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for s := 0; s < 20; s++ {
				path := fmt.Sprintf("bkt/state-%02d/terraform.tfstate", s)
				locktest.PutItem(b, ddb, table, map[string]string{"LockID": path + "-md5", "Digest": "0123456789abcdef0123456789abcdef"})
				wg.Add(1)
				go func() { // one writer per state, as concurrent pipelines would be
					defer wg.Done()
					for r := 1; r <= history; r++ {
						id := int64(s*10000 + r)
						if err := lockcheck.WriteRunRecord(ctx, ddb, table, lockcheck.RunRecord{LockPath: path, Repository: "octo/infra",
							RunID: id, RunAttempt: 1, Job: "terraform-apply", RunnerName: fmt.Sprintf("GitHub Actions %d", id),
							Host: fmt.Sprintf("runnervm%d", id), HostExclusive: true, Written: start.Add(time.Duration(r) * time.Hour)}); err != nil {
							errs <- err
							return
						}
						gh.End("octo/infra", id, 1, "success", fmt.Sprintf("GitHub Actions %d", id), start.Add(time.Duration(r)*time.Hour+10*time.Minute))
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(b, err)
			}
			for s := 0; s < 2 && !sh.owned; s++ { // two foreign locks taken now
				path := fmt.Sprintf("bkt/state-%02d/terraform.tfstate", s)
				locktest.PutItem(b, ddb, table, map[string]string{"LockID": path, "Info": locktest.InfoJSON(fmt.Sprintf("lock-%d", s), path, "me@laptop", time.Now().Add(-time.Minute))})
			}
			for s := 0; s < 20 && sh.owned && history > 0; s++ { // each state's last run took its lock and died
				path := fmt.Sprintf("bkt/state-%02d/terraform.tfstate", s)
				id := int64(s*10000 + history)
				locktest.PutItem(b, ddb, table, map[string]string{"LockID": path, "Info": locktest.InfoJSON(fmt.Sprintf("lock-%d", s), path,
					fmt.Sprintf("runner@runnervm%d", id), start.Add(time.Duration(history)*time.Hour+time.Minute))})
			}
			count, err := ddb.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table), Select: "COUNT"})
			require.NoError(b, err)
			api := httptest.NewServer(gh)
			defer api.Close()
			getenv := func(k string) string {
				if k == "GITHUB_TOKEN" {
					return "tok"
				}
				return ""
			}
			args := []string{"detect", "--lock-table", table, "--aws-region", "eu-west-2", "--github-api-url", api.URL,
				"--github-repository", "octo/infra", "--fail-on-active", "false", "--json"}
			before := gh.Requests("")
			var details, stderr bytes.Buffer
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				details.Reset()
				stderr.Reset()
				if code := run(ctx, args, getenv, &details, &stderr); code != exitOK {
					b.Fatalf("detect exited %d: %s", code, stderr.String())
				}
			}
			b.StopTimer()
			var compact bytes.Buffer
			require.NoError(b, json.Compact(&compact, details.Bytes()))
			if sh.owned {
				require.Contains(b, compact.String(), `"evidence":"definitive"`, "each state's dead owner is proven gone")
			} else {
				require.Contains(b, compact.String(), `"status":"ACTIVE"`, "the foreign locks are live")
			}
			b.ReportMetric(float64(count.Count), "items-scanned/op")
			b.ReportMetric(float64(gh.Requests("")-before)/float64(b.N), "github-requests/op")
			b.ReportMetric(float64(compact.Len()), "lock-details-bytes/op")
			b.ReportMetric(float64(stderr.Len()), "log-bytes/op")
		})
	}
}
