//go:build !unix

package wrapper

import (
	"context"
	"errors"
)

// Run is not available here: the wrapper's signal handling and process
// tree control are Unix's.
func Run(context.Context, Options) (int, error) {
	return 2, errors.New("tfstate-guard run needs Linux or macOS (process groups and Unix signals); run Terraform directly here")
}

// IsTerminal is false here.
func IsTerminal(uintptr) bool { return false }
