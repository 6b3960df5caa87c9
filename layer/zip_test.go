package layer

import (
	"archive/zip"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/text2agent/tfstate-guard/layer/internal/wheeltest"
)

// openTestWheel writes a wheel to disk and opens it like Build does.
func openTestWheel(t *testing.T, w wheeltest.Wheel) openWheel {
	t.Helper()
	path := filepath.Join(t.TempDir(), w.Filename())
	require.NoError(t, os.WriteFile(path, w.Bytes(), 0o644))
	zr, err := zip.OpenReader(path)
	require.NoError(t, err)
	t.Cleanup(func() { zr.Close() })
	return openWheel{filename: w.Filename(), project: NormalizeName(w.Project), reader: zr}
}

func planNames(p layerPlan) []string {
	var names []string
	for _, e := range p.entries {
		names = append(names, e.mode.String()+" "+e.name)
	}
	return names
}

func TestPlanLayer(t *testing.T) {
	t.Parallel()
	w := wheeltest.Wheel{Project: "Data.Pkg", Version: "1.0", Tags: "cp311-cp311-manylinux_2_17_x86_64", Files: []wheeltest.File{
		{Name: "datapkg/__init__.py", Body: []byte("x = 1\n")},
		{Name: "datapkg/__pycache__/__init__.cpython-311.pyc", Body: []byte("pyc")},
		{Name: "datapkg/old.pyc", Body: []byte("pyc")},
		{Name: "datapkg/tool.sh", Body: []byte("#!/bin/sh\n"), Mode: 0o700},
		{Name: "Data_Pkg-1.0.data/platlib/datapkg_native.so", Body: []byte("\x7fELF"), Mode: 0o775},
		{Name: "Data_Pkg-1.0.data/purelib/datapkg_extra/__init__.py", Body: []byte("")},
		{Name: "Data_Pkg-1.0.data/scripts/datapkg-cli", Body: []byte("#!python\n"), Mode: 0o755},
		{Name: "Data_Pkg-1.0.data/headers/datapkg.h", Body: []byte("int x;\n")},
	}}
	plan, err := planLayer([]openWheel{openTestWheel(t, w), openTestWheel(t, tinyDep)})
	require.NoError(t, err)
	assert.Equal(t, []string{
		"drwxr-xr-x python/",
		"drwxr-xr-x python/Data_Pkg-1.0.dist-info/",
		"-rw-r--r-- python/Data_Pkg-1.0.dist-info/METADATA",
		"-rw-r--r-- python/Data_Pkg-1.0.dist-info/RECORD",
		"-rw-r--r-- python/Data_Pkg-1.0.dist-info/WHEEL",
		"drwxr-xr-x python/datapkg/",
		"-rw-r--r-- python/datapkg/__init__.py",
		"-rwxr-xr-x python/datapkg/tool.sh",
		"drwxr-xr-x python/datapkg_extra/",
		"-rw-r--r-- python/datapkg_extra/__init__.py",
		"-rwxr-xr-x python/datapkg_native.so",
		"drwxr-xr-x python/tiny_dep-1.0.dist-info/",
		"-rw-r--r-- python/tiny_dep-1.0.dist-info/METADATA",
		"-rw-r--r-- python/tiny_dep-1.0.dist-info/RECORD",
		"-rw-r--r-- python/tiny_dep-1.0.dist-info/WHEEL",
		"drwxr-xr-x python/tinydep/",
		"-rw-r--r-- python/tinydep/__init__.py",
	}, planNames(plan))
	assert.Equal(t, 2, plan.skipped[w.Filename()], "scripts and headers are left out")
	assert.Equal(t, 11, plan.files)
}

func TestPlanLayerRefusesBadWheels(t *testing.T) {
	t.Parallel()
	withFiles := func(project string, files ...wheeltest.File) wheeltest.Wheel {
		return wheeltest.Wheel{Project: project, Version: "1.0", Tags: "py3-none-any", Files: files}
	}
	tests := []struct {
		name   string
		wheels []wheeltest.Wheel
		want   string
	}{
		{"path escape", []wheeltest.Wheel{withFiles("evil", wheeltest.File{Name: "../../etc/cron.d/x", Body: []byte("x")})},
			`wheel evil-1.0-py3-none-any.whl: member "../../etc/cron.d/x" is not a safe relative path; the wheel is malformed or hostile`},
		{"absolute path", []wheeltest.Wheel{withFiles("evil", wheeltest.File{Name: "/abs.py", Body: []byte("x")})},
			`member "/abs.py" is not a safe relative path`},
		{"backslash", []wheeltest.Wheel{withFiles("evil", wheeltest.File{Name: `pkg\..\x.py`, Body: []byte("x")})},
			`is not a safe relative path`},
		{"symlink", []wheeltest.Wheel{withFiles("evil", wheeltest.File{Name: "link", Body: []byte("/etc/passwd"), Mode: fs.ModeSymlink | 0o777})},
			`member "link" is not a regular file (L---------); wheels carry only files`},
		{"two wheels, one path, different content", []wheeltest.Wheel{
			withFiles("one", wheeltest.File{Name: "shared/mod.py", Body: []byte("a = 1\n")}),
			withFiles("two", wheeltest.File{Name: "shared/mod.py", Body: []byte("a = 2\n")}),
		}, "wheels one-1.0-py3-none-any.whl and two-1.0-py3-none-any.whl both install python/shared/mod.py with different content; drop one of the two pins"},
		{"a file where a folder must be", []wheeltest.Wheel{
			withFiles("one", wheeltest.File{Name: "shared", Body: []byte("a file")}),
			withFiles("two", wheeltest.File{Name: "shared/mod.py", Body: []byte("")}),
		}, "wheel one-1.0-py3-none-any.whl installs python/shared as a file, but another wheel needs it as a folder"},
		{"no dist-info of its own", []wheeltest.Wheel{{Project: "real", Version: "1.0", Tags: "py3-none-any"}},
			""}, // filled below: a wheel renamed to another project
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var ws []openWheel
			for _, w := range tt.wheels {
				ws = append(ws, openTestWheel(t, w))
			}
			want := tt.want
			if want == "" {
				ws[0].project = "other" // served under another project's name
				want = "wheel real-1.0-py3-none-any.whl is not a valid wheel: it has no other-*.dist-info/WHEEL for its project"
			}
			_, err := planLayer(ws)
			require.Error(t, err)
			assert.Contains(t, err.Error(), want)
		})
	}

	t.Run("identical shared file is fine", func(t *testing.T) {
		t.Parallel()
		ns := wheeltest.File{Name: "ns/__init__.py", Body: []byte("__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n")}
		plan, err := planLayer([]openWheel{
			openTestWheel(t, withFiles("ns-one", ns, wheeltest.File{Name: "ns/one.py"})),
			openTestWheel(t, withFiles("ns-two", ns, wheeltest.File{Name: "ns/two.py"})),
		})
		require.NoError(t, err)
		assert.Contains(t, planNames(plan), "-rw-r--r-- python/ns/__init__.py")
	})
}

func TestWriteZipIsIndependentOfInputOrderAndTimes(t *testing.T) {
	t.Parallel()
	w := wheeltest.Wheel{Project: "a", Version: "1", Tags: "py3-none-any", Files: []wheeltest.File{
		{Name: "a/z.py", Body: []byte("z")}, {Name: "a/b.py", Body: []byte("b")}, {Name: "a/run", Body: []byte("#!/bin/sh"), Mode: 0o700},
	}}
	original := w.Bytes()
	// The same members, in reverse order, stamped now, with other
	// permission bits and stored rather than deflated.
	var shuffled bytes.Buffer
	zr, err := zip.NewReader(bytes.NewReader(original), int64(len(original)))
	require.NoError(t, err)
	zw := zip.NewWriter(&shuffled)
	for i := len(zr.File) - 1; i >= 0; i-- {
		f := zr.File[i]
		h := &zip.FileHeader{Name: f.Name, Method: zip.Store, Modified: time.Now()}
		mode := fs.FileMode(0o600)
		if f.Mode()&0o100 != 0 {
			mode = 0o711
		}
		h.SetMode(mode)
		dst, err := zw.CreateHeader(h)
		require.NoError(t, err)
		require.NoError(t, copyMember(dst, f))
	}
	require.NoError(t, zw.Close())

	zips := make([][]byte, 2)
	for i, data := range [][]byte{original, shuffled.Bytes()} {
		path := filepath.Join(t.TempDir(), w.Filename())
		require.NoError(t, os.WriteFile(path, data, 0o644))
		r, err := zip.OpenReader(path)
		require.NoError(t, err)
		plan, err := planLayer([]openWheel{{filename: w.Filename(), project: "a", reader: r}})
		require.NoError(t, err)
		var buf bytes.Buffer
		require.NoError(t, writeZip(t.Context(), &buf, plan))
		r.Close()
		zips[i] = buf.Bytes()
	}
	require.False(t, bytes.Equal(original, shuffled.Bytes()))
	assert.True(t, bytes.Equal(zips[0], zips[1]), "the layer depends on the wheels' member order, times or permission bits")

	out, err := zip.NewReader(bytes.NewReader(zips[0]), int64(len(zips[0])))
	require.NoError(t, err)
	var names []string
	for _, f := range out.File {
		names = append(names, f.Mode().String()+" "+f.Name)
		assert.Equal(t, zipTime, f.Modified.UTC(), f.Name)
	}
	assert.Equal(t, []string{
		"drwxr-xr-x python/", "drwxr-xr-x python/a-1.dist-info/", "-rw-r--r-- python/a-1.dist-info/METADATA",
		"-rw-r--r-- python/a-1.dist-info/RECORD", "-rw-r--r-- python/a-1.dist-info/WHEEL", "drwxr-xr-x python/a/",
		"-rw-r--r-- python/a/b.py", "-rwxr-xr-x python/a/run", "-rw-r--r-- python/a/z.py",
	}, names)
}
