package wrapper

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// lockingCommands are the Terraform commands that lock state and accept
// -lock (hashicorp/terraform internal/command/arguments: the commands
// whose flag set has State, and state mv/push/rm/replace-provider, taint
// and untaint). init and workspace new/delete lock other states or none
// for the plain case, and run unwrapped.
var lockingCommands = map[string]string{
	"plan":                   "OperationTypePlan",
	"apply":                  "OperationTypeApply",
	"destroy":                "OperationTypeApply",
	"refresh":                "OperationTypeRefresh",
	"import":                 "import",
	"taint":                  "taint",
	"untaint":                "untaint",
	"state mv":               "state mv",
	"state rm":               "state rm",
	"state push":             "state push",
	"state replace-provider": "state replace-provider",
}

// Command is a Terraform command line as the wrapper understands it.
type Command struct {
	// Args is the whole command line, program first.
	Args []string
	// Subcommand is "plan", "state mv", ...; empty when there is none.
	Subcommand string
	// Operation is what the lock Info's Operation says.
	Operation string
	// Locks: the command takes the state lock (and -lock=false was not given).
	Locks bool
	// LockTimeout is -lock-timeout (0: try once).
	LockTimeout time.Duration
	// Chdir is -chdir, where Terraform runs.
	Chdir string
	// flagsAt is where the subcommand's own flags begin in Args.
	flagsAt int
}

// ParseCommand reads a Terraform command line (program and arguments).
func ParseCommand(args []string) (Command, error) {
	if len(args) == 0 {
		return Command{}, fmt.Errorf("no command after --: give the Terraform command to run, for example tfstate-guard run -- terraform plan")
	}
	c := Command{Args: args}
	i := 1
	for ; i < len(args) && strings.HasPrefix(args[i], "-"); i++ {
		if v, ok := strings.CutPrefix(args[i], "-chdir="); ok {
			c.Chdir = v
		}
	}
	if i >= len(args) {
		return c, nil
	}
	c.Subcommand, c.flagsAt = args[i], i+1
	if args[i] == "state" && i+1 < len(args) {
		c.Subcommand, c.flagsAt = "state "+args[i+1], i+2
	}
	op, ok := lockingCommands[c.Subcommand]
	if !ok {
		return c, nil
	}
	c.Operation, c.Locks = op, true
	for _, a := range args[c.flagsAt:] {
		if a == "--" || !strings.HasPrefix(a, "-") {
			break // Terraform's flags end at the first argument
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch name {
		case "lock":
			if hasValue && (value == "false" || value == "0") {
				c.Locks = false // the user asked Terraform not to lock: neither do we
			}
		case "lock-timeout":
			d, err := time.ParseDuration(value)
			if err != nil {
				return c, fmt.Errorf("-lock-timeout %q is not a duration: use Go syntax, for example -lock-timeout=5m", value)
			}
			c.LockTimeout = d
		case "state":
			if hasValue && value != "" {
				c.Locks = false // a local state file: not the backend's lock
			}
		}
	}
	return c, nil
}

// Unlocked is the command line with -lock=false, for a Terraform whose
// lock the wrapper holds.
func (c Command) Unlocked() []string {
	if !c.Locks {
		return c.Args
	}
	out := append([]string{}, c.Args[:c.flagsAt]...)
	out = append(out, "-lock=false")
	return append(out, c.Args[c.flagsAt:]...)
}

// DataDir is where terraform init wrote the backend: $TF_DATA_DIR (relative
// to the working directory) or .terraform, under -chdir.
func (c Command) DataDir(getenv func(string) string) string {
	d := getenv("TF_DATA_DIR")
	if d == "" {
		d = ".terraform"
	}
	if filepath.IsAbs(d) {
		return d
	}
	return filepath.Join(c.Chdir, d)
}
