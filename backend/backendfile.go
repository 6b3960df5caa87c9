package backend

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"
)

// BackendFileMarker starts the first line of every backend file this
// action writes; a file whose first line does not start with it is never
// overwritten.
const BackendFileMarker = "# Written by tfstate-guard"

// BackendFileHeader is the full first line.
const BackendFileHeader = BackendFileMarker + " (mode: setup). Changes are overwritten on the next run."

// RenderBackendFile returns the backend configuration for o:
//
//	terraform {
//	  backend "s3" { bucket, key, region, encrypt, dynamodb_table and/or
//	                 use_lockfile, kms_key_id, workspace_key_prefix }
//	}
//
// It writes exactly what hclwrite.Format makes of it (equal signs aligned,
// strings escaped as hclwrite escapes them; TestRenderBackendFileMatchesHCLWrite
// holds it to that), without linking the HCL packages into the binary:
// their package initialisation cost every mode about 2 ms at start.
//
// The workspace is not part of the file: Terraform selects it at run time.
func RenderBackendFile(o SetupOptions) []byte {
	type attr struct{ name, value string }
	attrs := []attr{{"bucket", hclString(o.Bucket)}, {"key", hclString(o.Key)}, {"region", hclString(o.Region)}, {"encrypt", "true"}}
	if o.KMSKeyID != "" {
		attrs = append(attrs, attr{"kms_key_id", hclString(o.KMSKeyID)})
	}
	if o.WorkspaceKeyPrefix != "" && o.WorkspaceKeyPrefix != "env:" {
		attrs = append(attrs, attr{"workspace_key_prefix", hclString(o.WorkspaceKeyPrefix)})
	}
	if o.LockMethod.UsesTable() {
		attrs = append(attrs, attr{"dynamodb_table", hclString(o.Table)})
	}
	if o.LockMethod.UsesLockfile() {
		attrs = append(attrs, attr{"use_lockfile", "true"})
	}
	width := 0
	for _, a := range attrs {
		width = max(width, len(a.name))
	}
	var b bytes.Buffer
	b.WriteString(BackendFileHeader + "\n")
	b.WriteString("# Settings come from the setup step's inputs; change those, not this file.\n")
	b.WriteString("terraform {\n  backend \"s3\" {\n")
	for _, a := range attrs {
		fmt.Fprintf(&b, "    %-*s = %s\n", width, a.name, a.value)
	}
	b.WriteString("  }\n}\n")
	return b.Bytes()
}

// hclString is s as a quoted HCL string literal, escaped as hclwrite
// escapes it: the usual backslash escapes, template introducers ${ and %{
// doubled so they stay literal, and non-printable runes as \u or \U.
func hclString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i, r := range s {
		switch r {
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '$', '%':
			b.WriteRune(r)
			if strings.HasPrefix(s[i+1:], "{") {
				b.WriteRune(r)
			}
		default:
			switch {
			case unicode.IsPrint(r):
				b.WriteRune(r)
			case r < 0x10000:
				fmt.Fprintf(&b, `\u%04x`, r)
			default:
				fmt.Fprintf(&b, `\U%08x`, r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// IsOwnBackendFile reports whether content was written by this action.
func IsOwnBackendFile(content []byte) bool {
	first, _, _ := bytes.Cut(content, []byte("\n"))
	return strings.HasPrefix(strings.TrimPrefix(string(first), "\ufeff"), BackendFileMarker)
}

// writeBackendFile writes content to path unless the file already holds
// exactly that. A file this action did not write is a ConfigError.
func writeBackendFile(path string, content []byte) (Check, error) {
	check := func(state CheckState, format string, args ...any) Check {
		return Check{Resource: ResourceBackendFile, Setting: filepath.Base(path), State: state, Detail: fmt.Sprintf(format, args...)}
	}
	old, err := os.ReadFile(path)
	switch {
	case err == nil:
		if !IsOwnBackendFile(old) {
			return Check{}, configErrorf("backend-file", nil,
				"backend file %q exists and was not written by tfstate-guard (its first line is not %q); remove it, or set backend-file to another name", path, BackendFileMarker)
		}
		if bytes.Equal(old, content) {
			return check(StateAlreadyRight, "up to date"), nil
		}
	case errors.Is(err, fs.ErrNotExist):
		old = nil
	default:
		return Check{}, fmt.Errorf("read backend file %q: %w", path, err)
	}
	if err := writeFileAtomic(path, content); err != nil {
		return Check{}, err
	}
	if old == nil {
		return check(StateChanged, "written"), nil
	}
	return check(StateChanged, "rewritten (settings changed)"), nil
}

// writeFileAtomic writes through a temporary file in the same directory
// and renames it, so a reader never sees half a file.
func writeFileAtomic(path string, content []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".tfstate-guard-*.tmp")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return configErrorf("working-directory", err, "directory %q of backend file %q does not exist; check working-directory and backend-file", dir, path)
		}
		return fmt.Errorf("write backend file %q: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(content); err != nil {
		tmp.Close()
		return fmt.Errorf("write backend file %q: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write backend file %q: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write backend file %q: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write backend file %q: %w", path, err)
	}
	return nil
}
