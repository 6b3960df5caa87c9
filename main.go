// Command tfstate-guard keeps Terraform state safe in CI: it sets up the S3
// backend, finds state locks and tells live ones from dead ones, removes
// approved stale locks, backs up state and builds a reproducible Lambda
// layer. It runs as a GitHub Docker action and as a command-line tool.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
