package lockcheck

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// MissingError says a lock table or state bucket does not exist where the
// configuration points. Every mode reports it the same way, naming the
// inputs that point there; the caller renders them in its own syntax.
type MissingError struct {
	Kind   string   // "lock table" or "state bucket"
	Name   string   // the table or bucket name
	Inputs []string // the inputs to check, e.g. lock-table and aws-region
	Hint   string   // optional: another fix, e.g. "or run mode setup first"
	Err    error    // the AWS error
}

func (e *MissingError) Error() string {
	return e.Message(func(name string) string { return name })
}

// Message renders the error with each input named by ref (for example
// "--lock-table" on the command line).
func (e *MissingError) Message(ref func(string) string) string {
	names := make([]string, len(e.Inputs))
	for i, in := range e.Inputs {
		names[i] = ref(in)
	}
	msg := fmt.Sprintf("%s %q does not exist in this account and region: check %s", e.Kind, e.Name, strings.Join(names, " and "))
	if e.Hint != "" {
		msg += ", " + e.Hint
	}
	return msg
}

func (e *MissingError) Unwrap() error { return e.Err }

// missingTable wraps err as a MissingError when DynamoDB says the table
// does not exist.
func missingTable(table string, err error) (*MissingError, bool) {
	var nf *ddbtypes.ResourceNotFoundException
	if !errors.As(err, &nf) {
		return nil, false
	}
	return &MissingError{Kind: "lock table", Name: table, Inputs: []string{"lock-table", "aws-region"}, Err: err}, true
}

// missingBucket wraps err as a MissingError when S3 says the bucket does
// not exist (NoSuchBucket, or a bare 404 from HeadBucket).
func missingBucket(bucket string, err error) (*MissingError, bool) {
	var nsb *types.NoSuchBucket
	var nf *types.NotFound
	if !errors.As(err, &nsb) && !errors.As(err, &nf) && httpStatus(err) != http.StatusNotFound {
		return nil, false
	}
	return &MissingError{Kind: "state bucket", Name: bucket, Inputs: []string{"state-bucket", "aws-region"}, Err: err}, true
}
