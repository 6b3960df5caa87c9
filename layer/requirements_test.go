package layer

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	hashA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	hashB = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
)

func TestParseRequirements(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string
		want []Requirement
	}{
		{"one pin", "psycopg2-binary==2.9.10", []Requirement{{Name: "psycopg2-binary", Version: "2.9.10", Line: 1}}},
		{"spaces, comments, blank lines, CRLF", "# layer deps\r\n\r\n  psycopg2-binary == 2.9.10   # the driver\r\nTiny.Dep==1.0\r\n", []Requirement{
			{Name: "psycopg2-binary", Version: "2.9.10", Line: 3},
			{Name: "Tiny.Dep", Version: "1.0", Line: 4},
		}},
		{"pip-compile output with hashes on continuation lines", "#\n# pip-compile --generate-hashes\n#\n--require-hashes\npsycopg2-binary==2.9.10 \\\n    --hash=sha256:" + hashA + " \\\n    --hash sha256:" + hashB + "\n    # via -r requirements.in\n", []Requirement{
			{Name: "psycopg2-binary", Version: "2.9.10", Hashes: []string{hashA, strings.ToLower(hashB)}, Line: 5},
		}},
		{"extras and arbitrary equality", "uvicorn[standard, http]==0.30.1\nlegacy===1.0-custom", []Requirement{
			{Name: "uvicorn", Extras: []string{"standard", "http"}, Version: "0.30.1", Line: 1},
			{Name: "legacy", Version: "1.0-custom", Arbitrary: true, Line: 2},
		}},
		{"a comment line ending in a backslash does not continue", "# see below \\\na==1\nb==2 \\\n  # via a\n", []Requirement{
			{Name: "a", Version: "1", Line: 2},
			{Name: "b", Version: "2", Line: 3},
		}},
		{"local version", "pkg==1.0+cpu.1", []Requirement{{Name: "pkg", Version: "1.0+cpu.1", Line: 1}}},
		{"only comments", "# nothing\n\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseRequirements(tt.text)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseRequirementsErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string
		want []string // every line of the joined error, in order
	}{
		{"range instead of pin", "boto3==1.0\n\npsycopg2-binary>=2.9", []string{
			`requirements line 3: "psycopg2-binary>=2.9" is not an exact pin; a layer must be reproducible, so write name==version, e.g. psycopg2-binary==2.9.10 (pip-compile writes such a file)`,
		}},
		{"every bad line is reported", "requests\nurllib3~=2.0\nidna==3.*\ncertifi==2024.1,<2025\nok==1.0", []string{
			`requirements line 1: "requests" is not an exact pin; a layer must be reproducible, so write name==version, e.g. requests==<version> (pip-compile writes such a file)`,
			`requirements line 2: "urllib3~=2.0" is not an exact pin; a layer must be reproducible, so write name==version, e.g. urllib3==<version> (pip-compile writes such a file)`,
			`requirements line 3: "idna==3.*" is not an exact pin; a layer must be reproducible, so write name==version, e.g. idna==<version> (pip-compile writes such a file)`,
			`requirements line 4: "certifi==2024.1,<2025" is not an exact pin; a layer must be reproducible, so write name==version, e.g. certifi==<version> (pip-compile writes such a file)`,
		}},
		{"duplicate after normalization", "Tiny_Dep==1.0\ntiny.dep==1.0", []string{
			`requirements line 2: "tiny.dep" is pinned again (first on line 1); keep one pin per package`,
		}},
		{"options that change where packages come from", "-i https://mirror/simple\n--extra-index-url=https://x/simple\n-r other.txt\n-e ./src\n--no-binary :all:", []string{
			`requirements line 1: option "-i" is not supported in requirements; set the index-url input instead and remove the line`,
			`requirements line 2: option "--extra-index-url" is not supported in requirements; set the index-url input instead and remove the line`,
			`requirements line 3: option "-r" (an included file) is not supported; list every pin in one file, as pip-compile output does`,
			`requirements line 4: editable requirement "-e ./src" is not supported; pin a released wheel with name==version`,
			`requirements line 5: option "--no-binary" is not supported in requirements; remove it (only name==version pins, --hash and --require-hashes are read)`,
		}},
		{"markers and URLs", "pkg==1.0; python_version < \"3.12\"\npkg2 @ https://example.com/pkg2.whl", []string{
			`requirements line 1: "pkg==1.0; python_version < \"3.12\"" has an environment marker, which is not supported; compile the requirements for the layer's target (Linux, the layer's Python version) and drop the marker`,
			`requirements line 2: "pkg2 @ https://example.com/pkg2.whl" is a direct URL requirement, which is not supported; publish the wheel to the index and pin it as pkg2==<version>`,
		}},
		{"bad hashes", "a==1 --hash=md5:abc\nb==1 --hash=sha256:abc\nc==1 --hash=" + hashA + "\nd==1 --global-option=x", []string{
			`requirements line 1: "a==1": hash algorithm "md5" is not supported; use sha256 (pip-compile --generate-hashes writes sha256)`,
			`requirements line 2: "b==1": sha256 "abc" is not 64 hex digits; copy the whole value`,
			`requirements line 3: "c==1": hash "` + hashA + `" is malformed; write --hash=sha256:<64 hex digits>`,
			`requirements line 4: "d==1": option "--global-option" is not supported; only --hash=sha256:<hex> may follow a pin`,
		}},
		{"require-hashes without hashes", "--require-hashes\na==1 --hash=sha256:" + hashA + "\nb==2", []string{
			`requirements line 3: "b==2" has no --hash but --require-hashes is set; add --hash=sha256:<hex> (pip-compile --generate-hashes writes them)`,
		}},
		{"a lone hash line", "a==1\n--hash=sha256:" + hashA, []string{
			`requirements line 2: "--hash=sha256:` + hashA + `" has no requirement before it; put --hash options on the pin's line (or its \ continuation)`,
		}},
		{"not a requirement at all", "!!!", []string{
			`requirements line 1: "!!!" is not a requirement; write name==version, e.g. psycopg2-binary==2.9.10`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseRequirements(tt.text)
			require.Error(t, err)
			assert.Nil(t, got)
			assert.Equal(t, tt.want, strings.Split(err.Error(), "\n"))
		})
	}
}

func TestLoadRequirements(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"requirements.txt":  "# compiled\npsycopg2-binary==2.9.10\n",
		"empty.txt":         "# nothing here\n",
		"bad/reqs.txt":      "ok==1\nbad>=2\n",
		"layer-reqs/req.in": "tiny.dep==1.0",
	}
	readFile := func(name string) ([]byte, error) {
		if name == "unreadable/layer" {
			return nil, fs.ErrPermission
		}
		if body, ok := files[name]; ok {
			return []byte(body), nil
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	tests := []struct {
		name    string
		input   string
		want    []Requirement
		wantErr string
	}{
		{name: "empty gives the default", input: "  \n", want: []Requirement{{Name: "psycopg2-binary", Version: DefaultPsycopg2Version, Line: 1}}},
		{name: "inline single pin", input: "psycopg2-binary==2.9.9", want: []Requirement{{Name: "psycopg2-binary", Version: "2.9.9", Line: 1}}},
		{name: "inline several pins", input: "a==1\nb==2\n", want: []Requirement{{Name: "a", Version: "1", Line: 1}, {Name: "b", Version: "2", Line: 2}}},
		{name: "a file", input: "requirements.txt", want: []Requirement{{Name: "psycopg2-binary", Version: "2.9.10", Line: 2}}},
		{name: "a file in a folder", input: " layer-reqs/req.in ", want: []Requirement{{Name: "tiny.dep", Version: "1.0", Line: 1}}},
		{name: "a file with a bad line", input: "bad/reqs.txt", wantErr: `requirements file "bad/reqs.txt" line 2: "bad>=2" is not an exact pin`},
		{name: "an empty file", input: "empty.txt", wantErr: `requirements file "empty.txt" lists no packages; pin at least one, e.g. psycopg2-binary==2.9.10`},
		{name: "a missing file", input: "missing/requirements.txt", wantErr: `requirements file "missing/requirements.txt" does not exist; give the path of a requirements file (relative to the workspace) or inline pins such as psycopg2-binary==2.9.10`},
		{name: "a bare name is an unpinned requirement", input: "psycopg2-binary", wantErr: `requirements line 1: "psycopg2-binary" is not an exact pin; a layer must be reproducible, so write name==version, e.g. psycopg2-binary==2.9.10`},
		{name: "an unreadable file", input: "unreadable/layer", wantErr: `requirements file "unreadable/layer": permission denied`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := LoadRequirements(tt.input, readFile)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}

	t.Run("with os.ReadFile", func(t *testing.T) {
		t.Parallel()
		path := t.TempDir() + "/requirements.txt"
		require.NoError(t, os.WriteFile(path, []byte("a==1\n"), 0o644))
		got, err := LoadRequirements(path, os.ReadFile)
		require.NoError(t, err)
		assert.Equal(t, []Requirement{{Name: "a", Version: "1", Line: 1}}, got)
		_, err = LoadRequirements(path+".missing", os.ReadFile)
		assert.True(t, err != nil && !errors.Is(err, fs.ErrNotExist), "the not-found error is explained, not passed through: %v", err)
	})
}

func TestNormalizeName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"psycopg2-binary":  "psycopg2-binary",
		"Psycopg2_Binary":  "psycopg2-binary",
		"zope.interface":   "zope-interface",
		"a-_.-b":           "a-b",
		"ruamel.yaml.clib": "ruamel-yaml-clib",
	} {
		assert.Equal(t, want, NormalizeName(in), in)
	}
}
