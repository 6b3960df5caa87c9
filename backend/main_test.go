package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/text2agent/tfstate-guard/internal/motoserver"
)

// envRaceChild marks a child process of TestSetupRaceProcesses; its value
// is the JSON of a raceChildSpec.
const envRaceChild = "TFSTATE_GUARD_SETUP_RACE_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(envRaceChild); spec != "" {
		os.Exit(raceChild(spec))
	}
	code := m.Run()
	motoserver.StopShared()
	os.Exit(code)
}

type raceChildSpec struct {
	Bucket, Table, Region, BackendFile string
	StartUnixNano                      int64
}

// raceChild runs one Setup against the server named by motoserver.EnvURL
// and prints the result as JSON; its exit code is 0 on success.
func raceChild(specJSON string) int {
	var spec raceChildSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "bad child spec:", err)
		return 2
	}
	url := os.Getenv(motoserver.EnvURL)
	srv := &motoserver.Server{URL: url}
	s3c, ddb := srv.S3(spec.Region), srv.DynamoDB(spec.Region)
	o := SetupOptions{
		Region: spec.Region, Bucket: spec.Bucket, Key: "race/terraform.tfstate", Table: spec.Table,
		LockMethod: LockBoth, BackendFile: spec.BackendFile, Tags: map[string]string{"team": "race"},
		SkipEnforcedTLS: true, // the probe runs here; see probeNoPolicy
	}
	time.Sleep(time.Until(time.Unix(0, spec.StartUnixNano)))
	res, err := Setup(context.Background(), s3c, ddb, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "setup failed:", err)
		return 1
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		return 1
	}
	return 0
}

var nameSeq atomic.Int64

// uniqueName returns a bucket- and table-safe name no other test, process
// or earlier run on the same server uses.
func uniqueName(prefix string) string {
	return fmt.Sprintf("tg-%s-%d-%d-%04x", prefix, os.Getpid(), nameSeq.Add(1), rand.IntN(1<<16))
}

// clients returns S3 and DynamoDB clients for the shared server, both
// counting their round trips in the returned counter.
func clients(t testing.TB, region string) (*s3.Client, *dynamodb.Client, *CallCounter) {
	t.Helper()
	srv := motoserver.Shared(t)
	counter := &CallCounter{}
	cfg := srv.AWSConfig(region)
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = true
		o.APIOptions = append(o.APIOptions, counter.Middleware)
	})
	ddb := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, counter.Middleware)
	})
	return s3c, ddb, counter
}

// denyingClients are like clients, but the server "refuses" the named
// operations the way AWS does when IAM denies them (moto does not enforce
// IAM unless the whole server is started in that mode). The SDK's own
// deserialisers turn the answer into its usual error types.
func denyingClients(t testing.TB, region string, deny ...string) (*s3.Client, *dynamodb.Client) {
	t.Helper()
	srv := motoserver.Shared(t)
	cfg := srv.AWSConfig(region)
	hc := &denyingHTTP{next: http.DefaultClient, deny: map[string]int{}}
	for _, d := range deny {
		op, status, _ := strings.Cut(d, "=")
		hc.deny[op], _ = strconv.Atoi(status)
	}
	cfg.HTTPClient = hc
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true; o.RetryMaxAttempts = 1 }),
		dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
}

type denyingHTTP struct {
	next *http.Client
	// deny maps "S3.PutObject", "DynamoDB.GetItem", ... to the status to
	// answer: 0 means AccessDenied, 404 a bare Not Found (S3 HEAD only).
	deny map[string]int
}

func (d *denyingHTTP) Do(req *http.Request) (*http.Response, error) {
	op := awsmiddleware.GetServiceID(req.Context()) + "." + awsmiddleware.GetOperationName(req.Context())
	status, denied := d.deny[op]
	if !denied {
		return d.next.Do(req)
	}
	resp := &http.Response{Request: req, Header: http.Header{}, ProtoMajor: 1, ProtoMinor: 1}
	var body string
	switch {
	case status == http.StatusNotFound:
		resp.StatusCode, resp.Status = 404, "404 Not Found"
	case strings.HasPrefix(op, "DynamoDB."):
		resp.StatusCode, resp.Status = 400, "400 Bad Request"
		resp.Header.Set("Content-Type", "application/x-amz-json-1.0")
		body = `{"__type":"com.amazon.coral.service#AccessDeniedException","message":"User is not authorized to perform: ` + op + `"}`
	default:
		resp.StatusCode, resp.Status = 403, "403 Forbidden"
		resp.Header.Set("Content-Type", "application/xml")
		if req.Method != http.MethodHead {
			body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`
		}
	}
	resp.Body = io.NopCloser(strings.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}

// options returns setup options with fresh names and a backend file in a
// temporary directory. The TLS-only policy stays on: tests that then
// store objects in the bucket must turn it off (see setup_test.go).
func options(t testing.TB, region string) SetupOptions {
	t.Helper()
	return SetupOptions{
		Region:      region,
		Bucket:      uniqueName("b"),
		Key:         "app/production/terraform.tfstate",
		Table:       uniqueName("t"),
		LockMethod:  LockDynamoDB,
		BackendFile: filepath.Join(t.TempDir(), "backend_override.tf"),
	}
}

// withAccount makes moto act for another AWS account.
func withAccount(id string) func(*middleware.Stack) error {
	return smithyhttp.AddHeaderValue("x-moto-account-id", id)
}

// moto 5.2.1 refuses every object request (the probe's included) to a
// bucket that carries a Deny statement with a condition, such as the
// TLS-only one, because it does not evaluate conditions. AWS evaluates
// them, and the SDK always uses TLS there. So a test either checks the
// policy and turns the permission probe off (policyNoProbe), or checks
// the probe and turns the TLS step off (probeNoPolicy).
func policyNoProbe(o SetupOptions) SetupOptions {
	o.SkipPermissionCheck = true
	return o
}

func probeNoPolicy(o SetupOptions) SetupOptions {
	o.SkipEnforcedTLS = true
	return o
}

func checkOf(t testing.TB, res *SetupResult, resource, setting string) Check {
	t.Helper()
	for _, c := range res.Checks {
		if c.Resource == resource && c.Setting == setting {
			return c
		}
	}
	t.Fatalf("no check %s/%s in %+v", resource, setting, res.Checks)
	return Check{}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
