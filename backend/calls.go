package backend

import (
	"context"
	"sort"
	"strings"
	"sync"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Call is one HTTP round trip made by an AWS client.
type Call struct {
	Service   string // SDK service ID: "S3", "DynamoDB"
	Operation string // "HeadBucket", "PutItem", ...
	Status    int    // HTTP status, 0 when no response arrived
}

// IsRead reports whether the operation only reads.
func (c Call) IsRead() bool {
	for _, p := range []string{"Get", "Head", "List", "Describe", "Scan", "Query"} {
		if strings.HasPrefix(c.Operation, p) {
			return true
		}
	}
	return false
}

// Succeeded reports whether the server answered 2xx.
func (c Call) Succeeded() bool { return c.Status >= 200 && c.Status < 300 }

func (c Call) String() string { return c.Service + "." + c.Operation }

// CallCounter records every round trip of the clients it is added to,
// retries included. Add it with
//
//	s3.NewFromConfig(cfg, func(o *s3.Options) { o.APIOptions = append(o.APIOptions, counter.Middleware) })
//
// (the same for dynamodb). It is safe for concurrent use.
type CallCounter struct {
	mu    sync.Mutex
	calls []Call
}

// Middleware adds the counter to an operation's stack. It sits last in the
// deserialize step, after the retry loop, so each attempt is one call.
func (c *CallCounter) Middleware(stack *middleware.Stack) error {
	return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("TfstateGuardCallCounter",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleDeserialize(ctx, in)
			call := Call{Service: awsmiddleware.GetServiceID(ctx), Operation: awsmiddleware.GetOperationName(ctx)}
			if resp, ok := out.RawResponse.(*smithyhttp.Response); ok && resp != nil {
				call.Status = resp.StatusCode
			}
			c.mu.Lock()
			c.calls = append(c.calls, call)
			c.mu.Unlock()
			return out, md, err
		}), middleware.After)
}

// Calls returns the calls so far, in the order they completed.
func (c *CallCounter) Calls() []Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Call(nil), c.calls...)
}

// Count is the number of round trips so far.
func (c *CallCounter) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.calls)
}

// Reset forgets the calls so far.
func (c *CallCounter) Reset() {
	c.mu.Lock()
	c.calls = nil
	c.mu.Unlock()
}

// ByOperation counts the calls per "Service.Operation".
func (c *CallCounter) ByOperation() map[string]int {
	m := map[string]int{}
	for _, call := range c.Calls() {
		m[call.String()]++
	}
	return m
}

// Writes lists the calls that could have changed something: operations
// that are not reads and that the server accepted (2xx). A conditional
// write refused by its condition is not a write.
func (c *CallCounter) Writes() []string {
	var w []string
	for _, call := range c.Calls() {
		if !call.IsRead() && call.Succeeded() {
			w = append(w, call.String())
		}
	}
	sort.Strings(w)
	return w
}
