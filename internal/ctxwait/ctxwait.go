// Package ctxwait holds the one wait that both the AWS set-up code and the
// GitHub retry transport need: a sleep that ends early with the context.
package ctxwait

import (
	"context"
	"time"
)

// Sleep waits for d, or returns ctx.Err() as soon as ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
