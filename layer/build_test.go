package layer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/text2agent/tfstate-guard/layer/internal/wheeltest"
)

// TestMain doubles as the child process of TestBuildIsReproducible: with
// LAYER_CHILD_INDEX set it builds one layer, under the umask, time zone and
// temporary folder its parent chose, and exits.
func TestMain(m *testing.M) {
	if index := os.Getenv("LAYER_CHILD_INDEX"); index != "" {
		syscall.Umask(0o077)
		reqs, err := ParseRequirements(os.Getenv("LAYER_CHILD_PINS"))
		if err == nil {
			_, err = Build(context.Background(), Options{
				Requirements: reqs,
				IndexURL:     index,
				Output:       os.Getenv("LAYER_CHILD_OUTPUT"),
				Now:          func() time.Time { return time.Date(2031, 7, 9, 23, 59, 59, 0, time.Local) },
			})
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestBuildPicksTheWheelForTheTarget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		form          wheeltest.Form
		python, arch  string
		glibc         string
		wantWheel     wheeltest.Wheel
		wantTag       string
		wantGlibc     string
		wantExtension string
	}{
		{"default target, JSON index", wheeltest.JSONOnly, "", "", "", pgX86, "cp311-cp311-manylinux_2_17_x86_64", "2.26", "python/psycopg2/_psycopg.cpython-311-x86_64-linux-gnu.so"},
		{"default target, HTML index", wheeltest.HTMLOnly, "", "", "", pgX86, "cp311-cp311-manylinux_2_17_x86_64", "2.26", "python/psycopg2/_psycopg.cpython-311-x86_64-linux-gnu.so"},
		{"newer glibc prefers the newer manylinux build", wheeltest.Negotiate, "3.11", "x86_64", "2.28", pgX86New, "cp311-cp311-manylinux_2_28_x86_64", "2.28", "python/psycopg2/_psycopg.cpython-311-x86_64-linux-gnu.so"},
		{"python 3.12 on x86_64, old spelling first", wheeltest.Negotiate, "3.12", "x86_64", "", pgX86312, "cp312-cp312-manylinux_2_17_x86_64", "2.34", "python/psycopg2/_psycopg.cpython-312-x86_64-linux-gnu.so"},
		{"arm64 on python 3.12 (Amazon Linux 2023)", wheeltest.Negotiate, "3.12", "arm64", "", pgArm312, "cp312-cp312-manylinux_2_28_aarch64", "2.34", "python/psycopg2/_psycopg.cpython-312-aarch64-linux-gnu.so"},
		{"arm64 on python 3.11 with glibc 2.28 asked for", wheeltest.HTMLOnly, "3.11", "arm64", "2.28", pgArm311, "cp311-cp311-manylinux_2_28_aarch64", "2.28", "python/psycopg2/_psycopg.cpython-311-aarch64-linux-gnu.so"},
		{"python 3.10", wheeltest.JSONOnly, "3.10", "x86_64", "", pgX86310, "cp310-cp310-manylinux_2_17_x86_64", "2.26", "python/psycopg2/_psycopg.cpython-310-x86_64-linux-gnu.so"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, srv := newIndex(t, tt.form)
			o := testOptions(srv, t.TempDir(), "psycopg2-binary==2.9.10", "tiny.dep==1.0")
			o.PythonVersion, o.Architecture, o.Glibc = tt.python, tt.arch, tt.glibc
			res, err := Build(context.Background(), o)
			require.NoError(t, err)

			wheel := wheelBytesOf(tt.wantWheel)
			sum := sha256.Sum256(wheel)
			require.Len(t, res.Packages, 2)
			assert.Equal(t, Package{Name: "psycopg2-binary", Version: "2.9.10", Filename: tt.wantWheel.Filename(), Size: int64(len(wheel)), SHA256: hex.EncodeToString(sum[:]), Tag: tt.wantTag}, res.Packages[0])
			assert.Equal(t, "tiny_dep-1.0-py3-none-any.whl", res.Packages[1].Filename)
			assert.Equal(t, tt.wantGlibc, res.Glibc)

			data, err := os.ReadFile(o.Output)
			require.NoError(t, err)
			zipSum := sha256.Sum256(data)
			assert.Equal(t, base64.StdEncoding.EncodeToString(zipSum[:]), res.SHA256Base64)
			assert.Equal(t, int64(len(data)), res.Size)
			list := listing(t, o.Output)
			assert.Contains(t, list, tt.wantExtension)
			assert.Contains(t, list, "python/tinydep/__init__.py")
			assert.NotContains(t, list, "__pycache__")
			assert.Equal(t, []string{"layer.zip"}, dirNames(t, filepath.Dir(o.Output)), "no temporary file is left beside the zip")
		})
	}
}

func TestBuildGolden(t *testing.T) {
	t.Parallel()
	_, srv := newIndex(t, wheeltest.Negotiate)
	o := testOptions(srv, t.TempDir(), "psycopg2-binary==2.9.10", "tiny.dep==1.0")
	var progress bytes.Buffer
	o.Progress = &progress
	res, err := Build(context.Background(), o)
	require.NoError(t, err)
	golden(t, "psycopg2-layer.golden", listing(t, o.Output))
	assert.Equal(t, 15, res.Files, "11 files of psycopg2-binary (its .pyc left out), 4 of tiny.dep")
	assert.Empty(t, res.Warnings)
	assert.Contains(t, progress.String(), "psycopg2-binary==2.9.10: picked "+pgX86.Filename())
	assert.Contains(t, progress.String(), "wrote "+o.Output)
}

func TestBuildIsReproducible(t *testing.T) {
	// Not parallel: it runs a child process, and other tests' output should
	// not compete with it for the two CPUs of a CI machine.
	_, srv := newIndex(t, wheeltest.Negotiate)
	pins := []string{"psycopg2-binary==2.9.10", "tiny.dep==1.0"}
	first := testOptions(srv, t.TempDir(), pins...)
	first.Now = func() time.Time { return time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC) }
	res1, err := Build(context.Background(), first)
	require.NoError(t, err)

	// The second build runs in another process: another umask (0077),
	// another time zone, another temporary folder, another clock, and the
	// index URL without its trailing slash.
	out2 := filepath.Join(t.TempDir(), "nested", "again.zip")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		"LAYER_CHILD_INDEX="+strings.TrimSuffix(srv.URL+"/simple/", "/"),
		"LAYER_CHILD_PINS="+strings.Join(pins, "\n"),
		"LAYER_CHILD_OUTPUT="+out2,
		"TZ=Pacific/Chatham",
		"TMPDIR="+t.TempDir(),
	)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child build: %s", out)

	a, err := os.ReadFile(first.Output)
	require.NoError(t, err)
	b, err := os.ReadFile(out2)
	require.NoError(t, err)
	require.True(t, bytes.Equal(a, b), "the two builds differ:\n%s\n%s", listing(t, first.Output), listing(t, out2))
	sum := sha256.Sum256(b)
	assert.Equal(t, res1.SHA256Base64, base64.StdEncoding.EncodeToString(sum[:]))
	fi, err := os.Stat(out2)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm(), "the zip's mode does not depend on the umask")
}

func TestBuildLayerIsImportable(t *testing.T) {
	t.Parallel()
	python, err := exec.LookPath("python3")
	require.NoError(t, err, "python3 is needed to check that the layer imports")
	_, srv := newIndex(t, wheeltest.Negotiate)
	dir := t.TempDir()
	o := testOptions(srv, dir, "psycopg2-binary==2.9.10", "tiny.dep==1.0")
	_, err = Build(context.Background(), o)
	require.NoError(t, err)

	// Unpack with Python's own zipfile, as an independent reader.
	opt := filepath.Join(dir, "opt")
	out, err := exec.Command(python, "-m", "zipfile", "-e", o.Output, opt).CombinedOutput()
	require.NoError(t, err, "unzip: %s", out)
	script := `
import importlib.metadata, sys
import psycopg2, tinydep
assert psycopg2.__file__.startswith(sys.argv[1]), psycopg2.__file__
print(psycopg2.__version__, psycopg2.extras.Json(1).adapted, tinydep.NAME, importlib.metadata.version("psycopg2-binary"))
`
	cmd := exec.Command(python, "-s", "-c", script, filepath.Join(opt, "python"))
	cmd.Env = append(os.Environ(), "PYTHONPATH="+filepath.Join(opt, "python"), "PYTHONDONTWRITEBYTECODE=1")
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "import from the layer: %s", out)
	assert.Equal(t, "2.9.10 1 tiny.dep 2.9.10\n", string(out))
	assert.FileExists(t, filepath.Join(opt, "python", "psycopg2_binary.libs", "libpq-e8a0c5b2.so.5.16"))
}

func TestBuildFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		pins    []string
		setup   func(ix *wheeltest.Index)
		tweak   func(o *Options)
		wantErr []string
		as      any
	}{
		{
			name: "arm64 python 3.11 on Amazon Linux 2 has no wheel",
			pins: []string{"psycopg2-binary==2.9.10"},
			tweak: func(o *Options) {
				o.Architecture = "arm64"
			},
			wantErr: []string{
				"requirements line 1: no wheel of psycopg2-binary==2.9.10 fits CPython 3.11, manylinux aarch64, glibc 2.26; the index offers:",
				"psycopg2_binary-2.9.10-cp311-cp311-manylinux_2_28_aarch64.whl: needs glibc 2.28, newer than the target's 2.26",
				"psycopg2_binary-2.9.10-cp311-cp311-musllinux_1_1_x86_64.whl: musllinux (Lambda runs glibc)",
				"psycopg2_binary-2.9.10-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl: other architecture (x86_64)",
				"psycopg2_binary-2.9.10-cp312-cp312-manylinux_2_28_aarch64.whl: other Python or ABI (cp312-cp312)",
				"psycopg2_binary-2.9.10-cp311-cp311-manylinux_2_28_x86_64.whl: other architecture (x86_64)",
				"psycopg2_binary-2.9.10-cp311-cp311-macosx_11_0_arm64.whl: macOS",
				"psycopg2_binary-2.9.10-cp311-cp311-win_amd64.whl: Windows",
				"psycopg2-binary-2.9.10.tar.gz: source distribution, never built",
				"change python-version, architecture or glibc",
			},
			as: new(*NoWheelError),
		},
		{
			name:    "only a yanked file",
			pins:    []string{"yanked-dep==1.1"},
			wantErr: []string{"yanked_dep-1.1-py3-none-any.whl: yanked: broken import"},
		},
		{
			name:    "a version the index does not have",
			pins:    []string{"psycopg2-binary==2.8.0"},
			wantErr: []string{"requirements line 1: the index has no files for psycopg2-binary==2.8.0; versions it has: 2.9.9, 2.9.10; pin a version the index has"},
		},
		{
			name:    "unknown package",
			pins:    []string{"tiny-dep==1.0", "no-such-thing==1.0"},
			wantErr: []string{`requirements line 2: package "no-such-thing" is not on the index`, "(HTTP 404)", "set index-url"},
			as:      new(*HTTPStatusError),
		},
		{
			name: "index announces a wrong hash",
			pins: []string{"tiny.dep==1.0"},
			setup: func(ix *wheeltest.Index) {
				f := wheelFile(tinyDep)
				f.SHA256 = strings.Repeat("ab", 32)
				ix.Add("tiny-dep", f)
			},
			wantErr: []string{"tiny_dep-1.0-py3-none-any.whl has sha256 ", "but the index says abab", "corrupt"},
		},
		{
			name:    "hash pin does not match",
			pins:    []string{"tiny.dep==1.0 --hash=sha256:" + strings.Repeat("0", 64)},
			wantErr: []string{"tiny_dep-1.0-py3-none-any.whl: its sha256 ", "is not among the --hash pins"},
		},
		{
			name: "hash pin does not match a file the index gives no hash for",
			pins: []string{"tiny.dep==1.0 --hash=sha256:" + strings.Repeat("0", 64)},
			setup: func(ix *wheeltest.Index) {
				f := wheelFile(tinyDep)
				f.NoHash = true
				ix.Add("tiny-dep", f)
			},
			wantErr: []string{"requirements line 1: tiny_dep-1.0-py3-none-any.whl has sha256 ", "which none of the --hash pins of tiny.dep==1.0 allows (" + strings.Repeat("0", 64) + "); if the release really changed, update the pin"},
		},
		{
			name: "size differs from what the index says",
			pins: []string{"tiny.dep==1.0"},
			setup: func(ix *wheeltest.Index) {
				f := wheelFile(tinyDep)
				f.WithSize, f.AnnouncedSize = true, len(f.Body)+10
				ix.Add("tiny-dep", f)
			},
			wantErr: []string{fmt.Sprintf("tiny_dep-1.0-py3-none-any.whl is %d bytes, but the index says %d; the download or the index is corrupt", len(wheelBytesOf(tinyDep)), len(wheelBytesOf(tinyDep))+10)},
		},
		{
			name: "connection breaks mid-download",
			pins: []string{"tiny-dep==1.0", "psycopg2-binary==2.9.10"},
			setup: func(ix *wheeltest.Index) {
				f := wheelFile(pgX86)
				f.CutAfter = 1000
				ix.Add("psycopg2-binary", f)
			},
			wantErr: []string{"download " + pgX86.Filename() + " from http://127.0.0.1:", "/files/" + pgX86.Filename()},
		},
		{
			name: "file host answers 500 every time",
			pins: []string{"tiny-dep==1.0"},
			setup: func(ix *wheeltest.Index) {
				f := wheelFile(tinyDep)
				f.Status = http.StatusInternalServerError
				ix.Add("tiny-dep", f)
			},
			wantErr: []string{"HTTP 500 Internal Server Error"},
			as:      new(*HTTPStatusError),
		},
		{
			name: "unzipped size over the limit",
			pins: []string{"psycopg2-binary==2.9.10"},
			tweak: func(o *Options) {
				o.unzippedLimit = 100 << 10
			},
			wantErr: []string{"the layer would take 209.6 KiB unzipped", "unzipped, over Lambda's limit of 100.0 KiB"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ix := &wheeltest.Index{}
			if tt.setup != nil {
				tt.setup(ix)
			}
			// The test's own pages and files win over the standard ones.
			srv := httptest.NewServer(merged(ix, stdIndex(wheeltest.Negotiate)))
			t.Cleanup(srv.Close)
			dir := t.TempDir()
			o := testOptions(srv, dir, tt.pins...)
			previous := []byte("the previous layer")
			require.NoError(t, os.WriteFile(o.Output, previous, 0o644))
			if tt.tweak != nil {
				tt.tweak(&o)
			}
			res, err := Build(context.Background(), o)
			require.Error(t, err)
			assert.Nil(t, res)
			for _, want := range tt.wantErr {
				assert.Contains(t, err.Error(), want)
			}
			if tt.as != nil {
				assert.True(t, errors.As(err, tt.as), "error is not a %T: %v", tt.as, err)
			}
			got, rerr := os.ReadFile(o.Output)
			require.NoError(t, rerr)
			assert.Equal(t, previous, got, "a failed build keeps the previous zip")
			assert.Equal(t, []string{"layer.zip"}, dirNames(t, dir), "a failed build leaves no partial zip")
		})
	}
}

// merged serves first's projects and files, falling back to second.
func merged(first, second *wheeltest.Index) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		first.ServeHTTP(rec, r)
		if rec.Code == http.StatusNotFound {
			second.ServeHTTP(w, r)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/files/") {
			first.ServeFile(w, r, strings.TrimPrefix(r.URL.Path, "/files/")) // keeps connection cuts real
			return
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

func TestBuildWithHashPins(t *testing.T) {
	t.Parallel()
	_, srv := newIndex(t, wheeltest.HTMLOnly)
	sum := sha256.Sum256(wheelBytesOf(tinyDep))
	o := testOptions(srv, t.TempDir(), "--require-hashes", "tiny.dep==1.0 --hash=sha256:"+strings.Repeat("1", 64)+" --hash=sha256:"+hex.EncodeToString(sum[:]))
	res, err := Build(context.Background(), o)
	require.NoError(t, err)
	assert.Equal(t, hex.EncodeToString(sum[:]), res.Packages[0].SHA256)
	assert.Empty(t, res.Warnings)
}

func TestBuildWarnings(t *testing.T) {
	t.Parallel()
	ix := &wheeltest.Index{Form: wheeltest.HTMLOnly}
	f := wheelFile(tinyDep)
	f.NoHash = true
	ix.Add("tiny-dep", f)
	srv := httptest.NewServer(ix)
	t.Cleanup(srv.Close)
	o := testOptions(srv, t.TempDir(), "tiny-dep[extra]==1.0")
	o.PythonVersion, o.Glibc = "3.11", "2.34"
	o.directUploadLimit = 100
	res, err := Build(context.Background(), o)
	require.NoError(t, err)
	assert.Equal(t, []string{
		"glibc 2.34 is newer than the python3.11 Lambda runtime's 2.26; wheels chosen for it may fail to load there",
		"the index gave no sha256 for tiny_dep-1.0-py3-none-any.whl and requirements line 1 has no --hash; its content is unverified",
		"requirements line 1: extras [extra] of tiny-dep add no packages here, since dependencies are not resolved; pin their packages too",
		fmt.Sprintf("the layer zip is %s, over Lambda's 100 B direct-upload limit; upload it to S3 and publish it from there (s3_bucket and s3_key of aws_lambda_layer_version)", HumanBytes(res.Size)),
	}, res.Warnings)
}

func TestBuildProgressOnLongDownloads(t *testing.T) {
	t.Parallel()
	_, srv := newIndex(t, wheeltest.JSONOnly)
	o := testOptions(srv, t.TempDir(), "psycopg2-binary==2.9.10")
	var progress bytes.Buffer
	o.Progress = &progress
	clock := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	o.Now = func() time.Time { clock = clock.Add(time.Second); return clock } // a slow network
	_, err := Build(context.Background(), o)
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^  `+strings.ReplaceAll(pgX86.Filename(), ".", `\.`)+`: \d+\.\d KiB of \d+\.\d KiB \(\d+%\)$`, progress.String())

	fast := testOptions(srv, t.TempDir(), "psycopg2-binary==2.9.10")
	var quiet bytes.Buffer
	fast.Progress = &quiet
	fixed := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	fast.Now = func() time.Time { return fixed }
	_, err = Build(context.Background(), fast)
	require.NoError(t, err)
	assert.NotContains(t, quiet.String(), "%)", "a quick download prints no running lines")
}

func TestBuildCancelled(t *testing.T) {
	t.Parallel()
	_, srv := newIndex(t, wheeltest.Negotiate)
	dir := t.TempDir()
	o := testOptions(srv, dir, "psycopg2-binary==2.9.10")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Build(ctx, o)
	require.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, dirNames(t, dir))
}
