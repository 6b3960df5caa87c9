package lockcheck

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/stretchr/testify/require"
	"github.com/text2agent/tfstate-guard/internal/locktest"
	"github.com/text2agent/tfstate-guard/internal/motoserver"
)

// BenchmarkDigestCheck measures detect's digest check of 1,000 small
// states (about 1 KB each, in a versioned bucket) on a real moto server:
// every digest matches but one in a hundred, which was edited out of band,
// so the figure includes explaining mismatches. It reports AWS round trips
// per state beside the time of one whole check.
func BenchmarkDigestCheck(b *testing.B) {
	const states = 1000
	srv := motoserver.Shared(b)
	count := &countingTransport{base: http.DefaultTransport}
	cfg := srv.AWSConfig("eu-west-2")
	cfg.HTTPClient = &http.Client{Transport: count}
	ddb, c := dynamodb.NewFromConfig(cfg), s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	ctx := context.Background()
	table, bucket := uniqueName("bench-digests"), uniqueName("bench-state")
	locktest.CreateTable(b, ddb, table)
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket),
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraintEuWest2}})
	require.NoError(b, err)
	_, err = c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}})
	require.NoError(b, err)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range states {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			key := fmt.Sprintf("stack-%04d/terraform.tfstate", i)
			body := stateJSON(fmt.Sprintf("lineage-%04d", i), 3, strings.Repeat("r", 800))
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)})
			require.NoError(b, err)
			_, err = ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
				"LockID": &types.AttributeValueMemberS{Value: bucket + "/" + key + DigestSuffix},
				"Digest": &types.AttributeValueMemberS{Value: md5hex(body)},
			}})
			require.NoError(b, err)
			if i%100 == 0 {
				_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body + " ")})
				require.NoError(b, err)
			}
		}()
	}
	wg.Wait()
	checker := &DigestChecker{Table: ddb, TableName: table, S3: c, Prefix: bucket + "/"}
	count.n.Store(0)
	b.ResetTimer()
	for range b.N {
		rep, err := checker.Check(ctx)
		require.NoError(b, err)
		require.Len(b, rep.Checks, states)
		require.Len(b, rep.Mismatches(), states/100)
	}
	b.StopTimer()
	b.ReportMetric(float64(count.n.Load())/float64(b.N)/states, "aws-calls/state")
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/check")
}
