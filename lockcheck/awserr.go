package lockcheck

import (
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// transientCodes are AWS error codes that say "not now", not "not allowed".
var transientCodes = map[string]bool{
	"ThrottlingException": true, "ProvisionedThroughputExceededException": true, "RequestLimitExceeded": true,
	"Throttling": true, "TooManyRequestsException": true, "SlowDown": true, "InternalServerError": true,
	"InternalError": true, "ServiceUnavailable": true, "RequestTimeout": true, "RequestTimeoutException": true,
}

// fixFor says what to do about a failed AWS call: a throttled, failing or
// cut-off answer (already retried by the SDK) calls for a re-run later, not
// for a permission the credentials may well have. permission names the
// IAM action the call needs.
func fixFor(err error, permission string) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ResourceNotFoundException":
			return "the table does not exist in this account and region: check lock-table and aws-region"
		case "NoSuchBucket":
			return "the bucket does not exist: check state-bucket"
		case "PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException":
			return "the bucket is in another region: set aws-region to the bucket's region"
		}
	}
	if errors.As(err, &ae) && transientCodes[ae.ErrorCode()] {
		return fmt.Sprintf("AWS throttled or failed the call (%s) even after retries: re-run the step later; nothing was changed by this failure", ae.ErrorCode())
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() >= http.StatusInternalServerError {
		return fmt.Sprintf("AWS answered HTTP %d even after retries: re-run the step later; nothing was changed by this failure", re.HTTPStatusCode())
	}
	var de *smithy.DeserializationError
	var ne net.Error
	var ma *retry.MaxAttemptsError
	if errors.As(err, &de) || errors.As(err, &ne) || errors.As(err, &ma) {
		return "the answer from AWS was lost or cut short (network or endpoint trouble): re-run the step"
	}
	return "needs " + permission
}
