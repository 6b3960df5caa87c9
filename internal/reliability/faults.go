package reliability

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault is one kind of failure injected between the product and a server.
type Fault struct {
	Name string
	// Service is where it is injected: "dynamodb", "s3" or "github".
	Service string
	// Match picks the calls it hits.
	Match func(Call) bool
	// First, when > 0, hits only the first First matching calls of each
	// step (a transient fault the retries must ride out); 0 hits them all.
	First int
	// Act is what the proxy does instead of (or before) answering.
	Act func(Call) Action
}

// Hits reports whether c is hit.
func (f Fault) Hits(c Call) bool {
	return c.Service == f.Service && f.Match(c) && (f.First == 0 || c.N <= f.First)
}

func op(name string) func(Call) bool { return func(c Call) bool { return c.Op == name } }

func s3Op(method, suffix string) func(Call) bool {
	return func(c Call) bool { return c.Op == method && strings.HasSuffix(c.Key, suffix) }
}

func githubRun(c Call) bool { return strings.Contains(c.Op, "/actions/runs/{n}") }

func ddbError(status int, typ, msg string) func(Call) Action {
	return func(Call) Action {
		return Action{Status: status, Header: map[string]string{"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": typ},
			Body: fmt.Sprintf(`{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":%q}`, typ, msg)}
	}
}

func s3Error(status int, code, msg string) func(Call) Action {
	return func(Call) Action {
		return Action{Status: status, Header: map[string]string{"Content-Type": "application/xml"},
			Body: fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>`, code, msg)}
	}
}

func ghError(status int, headers map[string]string, msg string) func(Call) Action {
	return func(Call) Action {
		h := map[string]string{"Content-Type": "application/json; charset=utf-8"}
		for k, v := range headers {
			h[k] = v
		}
		return Action{Status: status, Header: h, Body: fmt.Sprintf(`{"message":%q,"documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}`, msg)}
	}
}

func fixed(a Action) func(Call) Action { return func(Call) Action { return a } }

// Faults is the catalogue every fault run goes through, each kind at least once.
func Faults() []Fault {
	rateReset := func(in time.Duration) map[string]string {
		return map[string]string{"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "0", "X-RateLimit-Used": "1000",
			"X-RateLimit-Reset": strconv.FormatInt(time.Now().Add(in).Unix(), 10)}
	}
	return []Fault{
		{Name: "dynamodb Scan ProvisionedThroughputExceededException, twice", Service: "dynamodb", Match: op("Scan"), First: 2,
			Act: ddbError(400, "ProvisionedThroughputExceededException", "The level of configured provisioned throughput for the table was exceeded.")},
		{Name: "dynamodb Scan ThrottlingException, always", Service: "dynamodb", Match: op("Scan"),
			Act: ddbError(400, "ThrottlingException", "Rate of requests exceeds the allowed throughput.")},
		{Name: "dynamodb Scan 500, once", Service: "dynamodb", Match: op("Scan"), First: 1,
			Act: ddbError(500, "InternalServerError", "Internal server error")},
		{Name: "dynamodb DeleteItem 503, always", Service: "dynamodb", Match: op("DeleteItem"),
			Act: ddbError(503, "ServiceUnavailable", "Service Unavailable")},
		{Name: "dynamodb GetItem connection reset, once", Service: "dynamodb", Match: op("GetItem"), First: 1, Act: fixed(Action{Reset: true})},
		{Name: "dynamodb Scan connection reset, always", Service: "dynamodb", Match: op("Scan"), Act: fixed(Action{Reset: true})},
		{Name: "dynamodb Scan slow answer (1.5 s)", Service: "dynamodb", Match: op("Scan"), Act: fixed(Action{Delay: 1500 * time.Millisecond})},
		{Name: "dynamodb DeleteItem answer cut short after the delete, once", Service: "dynamodb", Match: op("DeleteItem"), First: 1, Act: fixed(Action{Truncate: true})},
		{Name: "dynamodb Scan answer cut short, always", Service: "dynamodb", Match: op("Scan"), Act: fixed(Action{Truncate: true})},
		{Name: "s3 ListObjectsV2 SlowDown, twice", Service: "s3", Match: op("LIST"), First: 2,
			Act: s3Error(503, "SlowDown", "Please reduce your request rate.")},
		{Name: "s3 ListObjectsV2 SlowDown, always", Service: "s3", Match: op("LIST"),
			Act: s3Error(503, "SlowDown", "Please reduce your request rate.")},
		{Name: "s3 GetObject .tflock 500, once", Service: "s3", Match: s3Op("GET", ".tflock"), First: 1,
			Act: s3Error(500, "InternalError", "We encountered an internal error. Please try again.")},
		{Name: "s3 DeleteObject .tflock 503, always", Service: "s3", Match: s3Op("DELETE", ".tflock"),
			Act: s3Error(503, "ServiceUnavailable", "Service is unable to handle request.")},
		{Name: "s3 GetObject .tflock connection reset, once", Service: "s3", Match: s3Op("GET", ".tflock"), First: 1, Act: fixed(Action{Reset: true})},
		{Name: "s3 DeleteObject .tflock connection reset, always", Service: "s3", Match: s3Op("DELETE", ".tflock"), Act: fixed(Action{Reset: true})},
		{Name: "s3 GetObject .tflock slow answer (1.5 s)", Service: "s3", Match: s3Op("GET", ".tflock"), Act: fixed(Action{Delay: 1500 * time.Millisecond})},
		{Name: "s3 DeleteObject .tflock answer cut short after the delete, once", Service: "s3", Match: s3Op("DELETE", ".tflock"), First: 1, Act: fixed(Action{Truncate: true})},
		{Name: "s3 ListObjectsV2 answer cut short, always", Service: "s3", Match: op("LIST"), Act: fixed(Action{Truncate: true})},
		{Name: "github 500, once", Service: "github", Match: githubRun, First: 1, Act: ghError(500, nil, "Server Error")},
		{Name: "github 502, always", Service: "github", Match: githubRun, Act: ghError(502, nil, "Server Error")},
		{Name: "github 403 primary rate limit (x-ratelimit-reset in 1 s), once", Service: "github", Match: githubRun, First: 1,
			Act: func(Call) Action {
				return ghError(403, rateReset(time.Second), "API rate limit exceeded for installation ID 1.")(Call{})
			}},
		{Name: "github 403 primary rate limit (x-ratelimit-reset in 1 h), always", Service: "github", Match: githubRun,
			Act: func(Call) Action {
				return ghError(403, rateReset(time.Hour), "API rate limit exceeded for installation ID 1.")(Call{})
			}},
		{Name: "github 429 retry-after 1, once", Service: "github", Match: githubRun, First: 1,
			Act: ghError(429, map[string]string{"Retry-After": "1"}, "You have exceeded a secondary rate limit.")},
		{Name: "github 429 retry-after 1, always", Service: "github", Match: githubRun,
			Act: ghError(429, map[string]string{"Retry-After": "1"}, "You have exceeded a secondary rate limit.")},
		{Name: "github 403 not rate-limited (token lacks actions: read), always", Service: "github", Match: githubRun,
			Act: ghError(403, nil, "Resource not accessible by integration")},
		{Name: "github timeout (never answers), always", Service: "github", Match: githubRun, Act: fixed(Action{Hang: true})},
		{Name: "github malformed JSON, always", Service: "github", Match: githubRun,
			Act: fixed(Action{Status: http.StatusOK, Header: map[string]string{"Content-Type": "application/json"}, Body: `{"id": 17, "status": "in_progress", "run_attempt": `})},
		{Name: "github run disappears (404) after its first answer", Service: "github", Match: func(c Call) bool { return githubRun(c) },
			Act: func(c Call) Action {
				if c.N == 1 {
					return Pass
				}
				return Action{Status: 404, Header: map[string]string{"Content-Type": "application/json"}, Body: notFound}
			}},
		{Name: "github connection reset, always", Service: "github", Match: githubRun, Act: fixed(Action{Reset: true})},
		{Name: "github answer cut short, always", Service: "github", Match: githubRun, Act: fixed(Action{Truncate: true})},
	}
}

// notFound is GitHub's 404 answer for a run it does not know.
const notFound = `{"message":"Not Found","documentation_url":"https://docs.github.com/rest/actions/workflow-runs#get-a-workflow-run","status":"404"}`
