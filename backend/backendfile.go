package backend

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// BackendFileMarker starts the first line of every backend file this
// action writes; a file whose first line does not start with it is never
// overwritten.
const BackendFileMarker = "# Written by tfstate-guard"

// BackendFileHeader is the full first line.
const BackendFileHeader = BackendFileMarker + " (mode: setup). Changes are overwritten on the next run."

// RenderBackendFile returns the backend configuration for o, generated
// with hclwrite:
//
//	terraform {
//	  backend "s3" { bucket, key, region, encrypt, dynamodb_table and/or
//	                 use_lockfile, kms_key_id, workspace_key_prefix }
//	}
//
// The workspace is not part of the file: Terraform selects it at run time.
func RenderBackendFile(o SetupOptions) []byte {
	f := hclwrite.NewEmptyFile()
	root := f.Body()
	root.AppendUnstructuredTokens(hclwrite.Tokens{
		{Type: hclsyntax.TokenComment, Bytes: []byte(BackendFileHeader + "\n")},
		{Type: hclsyntax.TokenComment, Bytes: []byte("# Settings come from the setup step's inputs; change those, not this file.\n")},
	})
	tf := root.AppendNewBlock("terraform", nil).Body()
	s3 := tf.AppendNewBlock("backend", []string{"s3"}).Body()
	s3.SetAttributeValue("bucket", cty.StringVal(o.Bucket))
	s3.SetAttributeValue("key", cty.StringVal(o.Key))
	s3.SetAttributeValue("region", cty.StringVal(o.Region))
	s3.SetAttributeValue("encrypt", cty.True)
	if o.KMSKeyID != "" {
		s3.SetAttributeValue("kms_key_id", cty.StringVal(o.KMSKeyID))
	}
	if o.WorkspaceKeyPrefix != "" && o.WorkspaceKeyPrefix != "env:" {
		s3.SetAttributeValue("workspace_key_prefix", cty.StringVal(o.WorkspaceKeyPrefix))
	}
	if o.LockMethod.UsesTable() {
		s3.SetAttributeValue("dynamodb_table", cty.StringVal(o.Table))
	}
	if o.LockMethod.UsesLockfile() {
		s3.SetAttributeValue("use_lockfile", cty.True)
	}
	return hclwrite.Format(f.Bytes())
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
