package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// modeHelp is what help says about a mode besides its flags, which come
// from the input table in inputs.go.
type modeHelp struct {
	Summary string // one line, for the top-level list
	About   string // a short paragraph for the mode's own help
	Example string // one command line
}

var modeHelps = map[Mode]modeHelp{
	ModeSetup: {
		Summary: "Create or verify the state bucket and lock table; write the backend file",
		About: "Creates the S3 state bucket and the DynamoDB lock table, or checks existing ones\n" +
			"(versioning, encryption, public access block, TLS-only policy, tags, point-in-time\n" +
			"recovery), then writes a Terraform backend file that points at them.",
		Example: "tfstate-guard setup --state-bucket my-tf-state --state-key app/terraform.tfstate",
	},
	ModeDetect: {
		Summary: "List every state lock and decide whether it is ACTIVE or STALE",
		About: "Reads every Terraform state lock (DynamoDB items and S3 .tflock objects) and decides\n" +
			"for each whether its owner still runs (ACTIVE) or is gone (STALE), asking the GitHub\n" +
			"API about the owning workflow run when it can and falling back to the lock's age.\n" +
			"With --check-digests it also compares each state's digest item with the MD5 of its bytes.",
		Example: "tfstate-guard detect --lock-table my-tf-locks --aws-profile prod",
	},
	ModeUnlock: {
		Summary: "Remove approved stale locks, and nothing that changed since approval",
		About: "Removes exactly the approved lock IDs, after reading every lock again and checking\n" +
			"each is still stale and unchanged. A live lock is never removed. With --repair-digests\n" +
			"it repairs approved digest mismatches, under the state's lock, if nothing changed.",
		Example: "tfstate-guard unlock --lock-ids 9161f8d3-91c8-c716-d20c-f2c95576c5e2 --aws-profile prod",
	},
	ModeBackup: {
		Summary: "Copy the current state object to backups/<state key>.<UTC time>",
		About:   "Copies the state object to backups/<state key>.<UTC time> in the same bucket, with the\nsame encryption. No state yet is not an error.",
		Example: "tfstate-guard backup --state-bucket my-tf-state --state-key app/terraform.tfstate",
	},
	ModeInstall: {
		Summary: "Put this binary on the job's PATH, for tfstate-guard run -- terraform ...",
		About: "Copies the tfstate-guard binary out of the action's image into the runner's temp\n" +
			"directory (which the runner mounts in the container) and adds that directory to PATH\n" +
			"for the job's later steps, so they run Terraform under tfstate-guard run without a\n" +
			"second download. See docs/lease.md.",
		Example: "tfstate-guard install --install-dir ~/.local/bin",
	},
	ModeBuildLayer: {
		Summary: "Build the psycopg2 Lambda layer zip, byte-for-byte reproducibly",
		About: "Picks, for each exact pin, the wheel that fits the Lambda runtime and writes a\n" +
			"reproducible layer zip. Dependencies are not resolved: pin every package.",
		Example: "tfstate-guard build-layer --python-version 3.12 --architecture arm64",
	},
}

// moreInfo is where a reader goes after help.
const moreInfo = "README.md and docs/ (https://github.com/text2agent/tfstate-guard)"

// cliFlag is a flag the command line has besides the inputs.
type cliFlag struct {
	Name, Value, Help string
	Modes             []Mode
}

// cliFlags are the command-line-only flags; every other flag is an input
// of inputs.go.
var cliFlags = []cliFlag{
	{Name: "json", Help: "Print the result as JSON instead of a table. detect prints LOCK_DETAILS (then DIGEST_MISMATCHES with --check-digests), unlock UNLOCK_DETAILS (or, then, DIGEST_REPAIRS with --repair-digests).", Modes: lockModes},
	{Name: "debug", Help: "Show the AWS SDK's own log lines. They are hidden otherwise; in Actions RUNNER_DEBUG=1 or ACTIONS_STEP_DEBUG=true shows them.", Modes: awsModes},
}

func (f cliFlag) usedBy(m Mode) bool {
	return input{Modes: f.Modes}.usedBy(m)
}

// commonInputs are the inputs every AWS mode reads: the top-level help
// lists them once.
func commonInputs() []input {
	var out []input
	for _, in := range inputs {
		if in.Name == "mode" {
			continue
		}
		common := true
		for _, m := range awsModes {
			common = common && in.usedBy(m)
		}
		if common {
			out = append(out, in)
		}
	}
	return out
}

// writeUsage prints the top-level help: modes, common flags, where to read
// more and the exit codes.
func writeUsage(w io.Writer) {
	var b strings.Builder
	b.WriteString("tfstate-guard keeps Terraform S3-backend state safe in CI: it tells live state\n")
	b.WriteString("locks from dead ones, removes a dead one after a person approves, or at once\n")
	b.WriteString("when its owner is proven gone (detect --auto-unlock definitive).\n\n")
	b.WriteString("Usage:\n  tfstate-guard <mode> [flags]\n  tfstate-guard help [mode]\n")
	b.WriteString("  tfstate-guard run [flags] -- terraform <args>  (Terraform under its lock and a lease)\n\nModes:\n")
	width := 0
	for _, m := range allModes {
		width = max(width, len(m))
	}
	for _, m := range allModes {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, m, modeHelps[m].Summary)
	}
	fmt.Fprintf(&b, "\nCommon flags (%s):\n", joinModeList(awsModes))
	var rows [][2]string
	for _, in := range commonInputs() {
		rows = append(rows, [2]string{flagName(in.Name, flagValue(in)), firstSentence(in.Help)})
	}
	for _, f := range cliFlags {
		rows = append(rows, [2]string{flagName(f.Name, f.Value), firstSentence(f.Help) + " (" + joinModeList(f.Modes) + ")"})
	}
	rows = append(rows, [2]string{"-h, --help", "Show help; tfstate-guard <mode> --help lists the mode's flags."})
	width = 0
	for _, r := range rows {
		width = max(width, len(r[0]))
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, r[0], r[1])
	}
	b.WriteString("\nRun 'tfstate-guard <mode> --help' for every flag of a mode. In a workflow each\n")
	b.WriteString("flag is an input of the action: --lock-table NAME is lock-table: NAME under with:.\n")
	fmt.Fprintf(&b, "Read more: %s.\n", moreInfo)
	b.WriteString("\nExit codes:\n")
	for _, c := range exitCodes {
		fmt.Fprintf(&b, "  %d  %s\n", c.code, c.meaning)
	}
	io.WriteString(w, b.String())
}

// exitCodes are documented in help and in README.md.
var exitCodes = []struct {
	code    int
	meaning string
}{
	{exitOK, "success"},
	{exitBlocked, "detect found an active lock (--fail-on-active true), or unlock refused a lock"},
	{exitInput, "invalid input (or unlock was given an ID no lock holds): the message names the\n     flag, the value and the fix"},
	{exitFailure, "AWS or GitHub failure (including no AWS credentials)"},
}

// writeModeUsage prints one mode's help, its flags generated from inputs.go.
func writeModeUsage(w io.Writer, m Mode) {
	h := modeHelps[m]
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: tfstate-guard %s [flags]\n\n%s\n\nFlags:\n", m, strings.Join(wrap(h.About, 78), "\n"))
	for _, in := range inputs {
		if in.Name == "mode" || !in.usedBy(m) {
			continue
		}
		writeFlag(&b, in.Name, flagValue(in), in.Help, flagDefault(in), aliasOf(in.Name))
	}
	for _, f := range cliFlags {
		if f.usedBy(m) {
			writeFlag(&b, f.Name, f.Value, f.Help, "", "")
		}
	}
	b.WriteString("  -h, --help\n      Show this help.\n")
	fmt.Fprintf(&b, "\nExample:\n  %s\n", h.Example)
	fmt.Fprintf(&b, "\nIn a workflow each flag is an input of the action: --lock-table NAME is\n")
	fmt.Fprintf(&b, "lock-table: NAME under with:, next to mode: %s.\n", m)
	fmt.Fprintf(&b, "Exit codes: tfstate-guard --help.\nRead more: %s.\n", moreInfo)
	io.WriteString(w, b.String())
}

// writeFlag renders one flag: its name and value on one line, its help
// wrapped below.
func writeFlag(b *strings.Builder, name, value, help, def, alias string) {
	line := "  " + flagName(name, value)
	if alias != "" {
		line += " (alias " + alias + ")"
	}
	b.WriteString(line + "\n")
	text := help + defaultNote(def)
	for _, l := range wrap(text, 72) {
		b.WriteString("      " + l + "\n")
	}
}

// flagName is a flag as typed: --name and its value placeholder.
func flagName(name, value string) string {
	if value == "" {
		return "--" + name
	}
	return "--" + name + " " + value
}

// defaultNote says a flag's default, if it has one.
func defaultNote(def string) string {
	if def == "" {
		return ""
	}
	return fmt.Sprintf(" (default %q)", def)
}

// firstSentence is the text up to its first ". ", for one-line listings.
func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}

// flagValue is the placeholder shown after a flag's name.
func flagValue(in input) string {
	if _, err := parseBool(in.Default); err == nil {
		return "true|false"
	}
	if _, err := time.ParseDuration(in.Default); err == nil {
		return "duration"
	}
	return "string"
}

// flagDefault is the default the command line applies (the action's
// ${{ github.token }} becomes $GITHUB_TOKEN, said in the input's help).
func flagDefault(in input) string {
	if in.Name == "github-token" {
		return ""
	}
	return in.Default
}

// aliasOf names a flag's short alias.
func aliasOf(name string) string {
	if name == "aws-profile" {
		return "--profile"
	}
	return ""
}

func joinModeList(ms []Mode) string {
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = string(m)
	}
	return strings.Join(names, ", ")
}

// wrap breaks text into lines of at most width runes, at spaces.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		if line != "" && len([]rune(line))+1+len([]rune(word)) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}
