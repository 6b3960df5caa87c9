package report

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Pair is one output or environment variable.
type Pair struct{ Name, Value string }

var namePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// AppendFileCommand appends pairs to a runner file command ($GITHUB_OUTPUT,
// $GITHUB_ENV) in the heredoc form, each with a fresh random delimiter, as
// @actions/core does. A value that contains its delimiter is refused, so no
// value (lock content is hostile) can end its own entry and start another.
func AppendFileCommand(path string, pairs []Pair) error {
	if path == "" {
		return nil
	}
	var buf bytes.Buffer
	for _, p := range pairs {
		if !namePattern.MatchString(p.Name) {
			return fmt.Errorf("file command name %q is not a valid name", p.Name)
		}
		delim, err := newDelimiter()
		if err != nil {
			return err
		}
		if strings.Contains(p.Value, delim) || strings.Contains(p.Name, delim) {
			return fmt.Errorf("value of %s contains the delimiter %q; refusing to write it", p.Name, delim)
		}
		fmt.Fprintf(&buf, "%s<<%s\n%s\n%s\n", p.Name, delim, p.Value, delim)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open file command %q: %w", path, err)
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		return fmt.Errorf("write file command %q: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close file command %q: %w", path, err)
	}
	return nil
}

func newDelimiter() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make a file command delimiter: %w", err)
	}
	return "ghadelimiter_" + hex.EncodeToString(b), nil
}

// ParseFileCommand reads a file command file the way the runner does:
// `name=value` lines and `name<<DELIM` heredocs ending at a line that is
// exactly DELIM. Later entries win. It is what tests use to read outputs.
func ParseFileCommand(data []byte) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 64*1024*1024)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSuffix(sc.Text(), "\r")
		if text == "" {
			continue
		}
		eq := strings.Index(text, "=")
		hd := strings.Index(text, "<<")
		if hd >= 0 && (eq < 0 || hd < eq) {
			name, delim := text[:hd], text[hd+2:]
			if name == "" || delim == "" {
				return nil, fmt.Errorf("line %d: invalid heredoc header %q", line, text)
			}
			var value []string
			closed := false
			for sc.Scan() {
				line++
				l := strings.TrimSuffix(sc.Text(), "\r")
				if l == delim {
					closed = true
					break
				}
				value = append(value, l)
			}
			if !closed {
				return nil, fmt.Errorf("line %d: heredoc for %q never ends with %q", line, name, delim)
			}
			out[name] = strings.Join(value, "\n")
			continue
		}
		if eq <= 0 {
			return nil, fmt.Errorf("line %d: %q is neither name=value nor name<<delimiter", line, text)
		}
		out[text[:eq]] = text[eq+1:]
	}
	return out, sc.Err()
}

// MaxExportedValue bounds what is exported to $GITHUB_ENV: Linux refuses
// to start a process with one environment string over 128 KiB, so a larger
// value would make every later step of the job fail to start.
const MaxExportedValue = 64 << 10

// ForEnvironment splits pairs into those small enough to export to later
// steps and the names of those that are not.
func ForEnvironment(pairs []Pair) (exported []Pair, dropped []string) {
	for _, p := range pairs {
		if len(p.Name)+1+len(p.Value) > MaxExportedValue {
			dropped = append(dropped, p.Name)
			continue
		}
		exported = append(exported, p)
	}
	return exported, dropped
}

// AppendSummary appends Markdown to $GITHUB_STEP_SUMMARY.
func AppendSummary(path, markdown string) error {
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open step summary %q: %w", path, err)
	}
	if _, err := f.WriteString(markdown); err != nil {
		f.Close()
		return fmt.Errorf("write step summary %q: %w", path, err)
	}
	return f.Close()
}
