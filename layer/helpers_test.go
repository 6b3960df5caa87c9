package layer

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/base64"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/text2agent/tfstate-guard/layer/internal/wheeltest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Wheels of the test index. psycopg2-binary 2.9.10 has what PyPI has, and
// some: x86_64 wheels in both manylinux spellings, a newer manylinux_2_28
// x86_64 build, aarch64 wheels only for glibc 2.28, musllinux, macOS and
// Windows wheels, other Python versions, and a source distribution.
var (
	pgX86       = wheeltest.Psycopg2Like("2.9.10", "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64")
	pgX86New    = wheeltest.Psycopg2Like("2.9.10", "cp311-cp311-manylinux_2_28_x86_64")
	pgArm311    = wheeltest.Psycopg2Like("2.9.10", "cp311-cp311-manylinux_2_28_aarch64")
	pgArm312    = wheeltest.Psycopg2Like("2.9.10", "cp312-cp312-manylinux_2_28_aarch64")
	pgX86312    = wheeltest.Psycopg2Like("2.9.10", "cp312-cp312-manylinux2014_x86_64.manylinux_2_17_x86_64")
	pgMusl      = wheeltest.Psycopg2Like("2.9.10", "cp311-cp311-musllinux_1_1_x86_64")
	pgX86310    = wheeltest.Psycopg2Like("2.9.10", "cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64")
	pgOldX86    = wheeltest.Psycopg2Like("2.9.9", "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64")
	pgMac       = wheeltest.Psycopg2Like("2.9.10", "cp311-cp311-macosx_11_0_arm64")
	pgWin       = wheeltest.Psycopg2Like("2.9.10", "cp311-cp311-win_amd64")
	tinyDep     = wheeltest.Pure("tiny.dep", "1.0", "tinydep")
	yankedDep11 = wheeltest.Pure("yanked-dep", "1.1", "yankeddep")
	yankedDep10 = wheeltest.Pure("yanked-dep", "1.0", "yankeddep")
)

// wheelBytes memoizes test wheels by file name: building them is most of
// a test's work under -race, and every test's index serves the same ones.
var wheelBytes sync.Map

func wheelBytesOf(w wheeltest.Wheel) []byte {
	if b, ok := wheelBytes.Load(w.Filename()); ok {
		return b.([]byte)
	}
	b, _ := wheelBytes.LoadOrStore(w.Filename(), w.Bytes())
	return b.([]byte)
}

// wheelFile is wheeltest.WheelFile, memoized.
func wheelFile(w wheeltest.Wheel) wheeltest.IndexFile {
	return wheeltest.IndexFile{Filename: w.Filename(), Body: wheelBytesOf(w)}
}

// newIndex starts a local index serving the test wheels in one form.
func newIndex(t *testing.T, form wheeltest.Form) (*wheeltest.Index, *httptest.Server) {
	t.Helper()
	ix := stdIndex(form)
	srv := httptest.NewServer(ix)
	t.Cleanup(srv.Close)
	return ix, srv
}

// stdIndex is an index of the test wheels, not yet served.
func stdIndex(form wheeltest.Form) *wheeltest.Index {
	ix := &wheeltest.Index{Form: form}
	ix.Add("psycopg2-binary",
		wheelFile(pgOldX86),
		wheelFile(pgX86310),
		wheelFile(pgMusl),
		wheelFile(pgX86New),
		wheelFile(pgX86),
		wheelFile(pgArm311),
		wheelFile(pgX86312),
		wheelFile(pgArm312),
		wheelFile(pgMac),
		wheelFile(pgWin),
		wheeltest.IndexFile{Filename: "psycopg2-binary-2.9.10.tar.gz", Body: []byte("not a wheel")},
	)
	ix.Add("tiny-dep", wheelFile(tinyDep))
	y11 := wheelFile(yankedDep11)
	y11.Yanked, y11.YankedReason = true, "broken import"
	ix.Add("yanked-dep", wheelFile(yankedDep10), y11)
	return ix
}

// testOptions are options for a build against srv into dir.
func testOptions(srv *httptest.Server, dir string, pins ...string) Options {
	reqs, err := ParseRequirements(strings.Join(pins, "\n"))
	if err != nil {
		panic(err)
	}
	return Options{
		Requirements: reqs,
		Output:       filepath.Join(dir, "layer.zip"),
		IndexURL:     srv.URL + "/simple/",
		HTTPClient:   srv.Client(),
		retryDelay:   time.Millisecond,
	}
}

// listing renders a zip for a golden file: every entry's mode, size, CRC,
// method and time, then the zip's size and base64 sha256.
func listing(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	zr, err := zip.OpenReader(path)
	require.NoError(t, err)
	defer zr.Close()
	var b strings.Builder
	for _, f := range zr.File {
		fmt.Fprintf(&b, "%v %8d %08x %-7s %s %s\n", f.Mode(), f.UncompressedSize64, f.CRC32, method(f.Method), f.Modified.UTC().Format(time.RFC3339), f.Name)
	}
	sum := sha256.Sum256(data)
	fmt.Fprintf(&b, "size %d\nsha256 %s\n", len(data), base64.StdEncoding.EncodeToString(sum[:]))
	return b.String()
}

func method(m uint16) string {
	switch m {
	case zip.Store:
		return "store"
	case zip.Deflate:
		return "deflate"
	}
	return fmt.Sprint(m)
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./layer/ -update to create %s", path)
	require.Equal(t, string(want), got, "golden file %s differs; if the change is meant, run go test ./layer/ -update", path)
}

// dirNames lists a folder's entries.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
