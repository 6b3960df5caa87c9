package main

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/text2agent/tfstate-guard/internal/locktest"
	"github.com/text2agent/tfstate-guard/internal/motoserver"
)

// BenchmarkRunDetectEmptyTable is detect as the runner starts it, in
// process, on an empty table: everything a job pays above package
// initialisation before any lock is read (configuration, AWS and GitHub
// clients, the scan, the outputs). Profile it with
//
//	go test -run '^$' -bench RunDetectEmptyTable -cpuprofile cpu.out .
func BenchmarkRunDetectEmptyTable(b *testing.B) {
	srv := motoserver.Shared(b)
	ddb := srv.DynamoDB("eu-west-2")
	table := locktest.UniqueName("empty")
	locktest.CreateTable(b, ddb, table)
	dir := b.TempDir()
	env := map[string]string{
		"AWS_ENDPOINT_URL": srv.URL, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
		"AWS_EC2_METADATA_DISABLED": "true", "HOME": dir,
		"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "octo/infra", "GITHUB_RUN_ID": "1", "GITHUB_RUN_ATTEMPT": "1",
		"GITHUB_API_URL": "http://127.0.0.1:1", "GITHUB_OUTPUT": filepath.Join(dir, "output"),
		"GITHUB_ENV": filepath.Join(dir, "env"), "GITHUB_STEP_SUMMARY": filepath.Join(dir, "summary"),
		"INPUT_MODE": "detect", "INPUT_LOCK-TABLE": table, "INPUT_AWS-REGION": "eu-west-2",
		"INPUT_LOCK-SOURCE": "dynamodb", "INPUT_GITHUB-TOKEN": "token",
	}
	// The AWS SDK reads its settings from the process environment.
	for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_EC2_METADATA_DISABLED"} {
		b.Setenv(k, env[k])
	}
	b.Setenv("AWS_CA_BUNDLE", "")
	b.Setenv("AWS_PROFILE", "")
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	for b.Loop() {
		if code := run(ctx, nil, getenv, io.Discard, io.Discard); code != 0 {
			b.Fatalf("detect exited %d", code)
		}
	}
}
