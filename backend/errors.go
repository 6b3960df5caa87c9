package backend

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// How callers tell failures apart (errors.As):
//
//   - *ConfigError: the inputs, or something they point at, are wrong and
//     only the user can fix them: an invalid option, a table with the wrong
//     key schema, a bucket that belongs to another account or lives in
//     another region, a backend file that tfstate-guard did not write.
//     Retrying cannot help. The CLI maps it to the configuration exit code.
//   - *PermissionError: the credentials lack an IAM permission; Action names
//     it (for example "dynamodb:PutItem"). It is an AWS failure, not a
//     ConfigError, but carries what to grant.
//   - anything else: an AWS or file-system failure, wrapped with what was
//     being done (the SDK error stays reachable through errors.As).
//
// A ConfigError never wraps a PermissionError and vice versa.

// ConfigError is a problem in the inputs or in what they point at.
type ConfigError struct {
	// Input is the action input to change ("state-bucket", "lock-table",
	// "backend-file", ...), or "" when no single input is at fault.
	Input string
	// Message says what is wrong, with the value, and how to fix it.
	Message string
	// Err is the underlying cause, if any.
	Err error
}

func (e *ConfigError) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *ConfigError) Unwrap() error { return e.Err }

func configErrorf(input string, cause error, format string, args ...any) *ConfigError {
	return &ConfigError{Input: input, Message: fmt.Sprintf(format, args...), Err: cause}
}

// PermissionError says which IAM permission the credentials lack.
type PermissionError struct {
	Action   string // IAM action, e.g. "s3:PutObject"
	Resource string // what it was tried on: a bucket, key or table
	Err      error
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("the credentials lack %s on %s; grant it to the role this job uses (docs/setup.md lists every permission): %v", e.Action, e.Resource, e.Err)
}

func (e *PermissionError) Unwrap() error { return e.Err }

// errorCode returns the AWS error code, or "".
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// httpStatus returns the HTTP status of a failed call, or 0.
func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// isAccessDenied reports whether AWS refused the call for lack of permission.
func isAccessDenied(err error) bool {
	switch errorCode(err) {
	case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AllAccessDisabled":
		return true
	}
	// S3 answers HEAD requests without a body, so only the status remains.
	return httpStatus(err) == http.StatusForbidden
}

// hasCode reports whether err carries one of the AWS error codes.
func hasCode(err error, codes ...string) bool {
	c := errorCode(err)
	for _, want := range codes {
		if c == want {
			return true
		}
	}
	return false
}

// denied wraps err as a PermissionError when AWS refused it for lack of
// permission, and with context otherwise.
func denied(err error, action, resource, doing string) error {
	if isAccessDenied(err) {
		return &PermissionError{Action: action, Resource: resource, Err: err}
	}
	return fmt.Errorf("%s: %w", doing, err)
}
