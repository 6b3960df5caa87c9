package wrapper

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// AWSClock tells AWS's time from the Date header of AWS's answers, so a
// lease says when it was renewed in the clock its readers use too, however
// wrong the local clock is. Date has whole seconds and is taken when AWS
// answers: the estimate is at most about a second early, which the
// reader's margin covers (docs/lease.md).
type AWSClock struct {
	mu     sync.Mutex
	offset time.Duration // AWS time - local wall time
	known  bool
	local  func() time.Time
}

// NewAWSClock starts with no answer seen: Now is the local time until one is.
func NewAWSClock() *AWSClock { return &AWSClock{local: time.Now} }

// Now is AWS's time now, estimated from the latest answer.
func (c *AWSClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.local().Add(c.offset).UTC()
}

// Known reports whether an answer of AWS set the clock.
func (c *AWSClock) Known() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.known
}

func (c *AWSClock) observe(date string) {
	t, err := http.ParseTime(date)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset, c.known = t.Sub(c.local()), true
}

// Middleware records the Date of every answer, errors included; add it to
// a client's APIOptions.
func (c *AWSClock) Middleware(stack *middleware.Stack) error {
	return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("tfstate-guard/aws-clock",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleDeserialize(ctx, in)
			if resp, ok := out.RawResponse.(*smithyhttp.Response); ok && resp != nil {
				c.observe(resp.Header.Get("Date"))
			}
			return out, md, err
		}), middleware.After)
}
