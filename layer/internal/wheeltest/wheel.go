// Package wheeltest builds Python wheels in Go and serves them from a local
// package index (PEP 691 JSON and PEP 503 HTML), so that the layer builder
// can be tested, and benchmarked against pip, without the public index.
package wheeltest

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"sort"
	"strings"
	"time"
)

// File is one member of a wheel.
type File struct {
	Name string
	Body []byte
	Mode fs.FileMode // 0 = 0644
}

// Wheel describes a wheel to build.
type Wheel struct {
	Project string // e.g. psycopg2-binary
	Version string
	Build   string // optional build tag
	Tags    string // python-abi-platform, each part possibly a compressed set
	Files   []File
}

// escape writes a project name the way wheel file names do (PEP 427).
func escape(project string) string {
	return strings.NewReplacer("-", "_", ".", "_").Replace(project)
}

// Filename is the wheel's file name.
func (w Wheel) Filename() string {
	parts := []string{escape(w.Project), w.Version}
	if w.Build != "" {
		parts = append(parts, w.Build)
	}
	return strings.Join(append(parts, w.Tags), "-") + ".whl"
}

// wheelTime is the time of every member of a test wheel.
var wheelTime = time.Date(2024, 10, 5, 12, 30, 0, 0, time.UTC)

// Bytes builds the wheel: its files plus a .dist-info folder with METADATA,
// WHEEL and RECORD, as pip expects. The same Wheel gives the same bytes.
func (w Wheel) Bytes() []byte {
	distInfo := escape(w.Project) + "-" + w.Version + ".dist-info/"
	pure := strings.HasSuffix(w.Tags, "-none-any")
	var wheelMeta strings.Builder
	fmt.Fprintf(&wheelMeta, "Wheel-Version: 1.0\nGenerator: tfstate-guard-wheeltest\nRoot-Is-Purelib: %t\n", pure)
	pys, abis, plats := splitTags(w.Tags)
	for _, py := range pys {
		for _, abi := range abis {
			for _, plat := range plats {
				fmt.Fprintf(&wheelMeta, "Tag: %s-%s-%s\n", py, abi, plat)
			}
		}
	}
	files := append([]File(nil), w.Files...)
	files = append(files,
		File{Name: distInfo + "METADATA", Body: []byte(fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: test wheel\n", w.Project, w.Version))},
		File{Name: distInfo + "WHEEL", Body: []byte(wheelMeta.String())},
	)
	var record strings.Builder
	for _, f := range files {
		sum := sha256.Sum256(f.Body)
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", f.Name, base64.RawURLEncoding.EncodeToString(sum[:]), len(f.Body))
	}
	fmt.Fprintf(&record, "%sRECORD,,\n", distInfo)
	files = append(files, File{Name: distInfo + "RECORD", Body: []byte(record.String())})

	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		h := &zip.FileHeader{Name: f.Name, Method: zip.Deflate, Modified: wheelTime}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		h.SetMode(mode)
		fw, err := zw.CreateHeader(h)
		if err != nil {
			panic(err) // only a programming error in a test wheel gets here
		}
		if _, err := fw.Write(f.Body); err != nil {
			panic(err)
		}
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func splitTags(tags string) (pys, abis, plats []string) {
	parts := strings.SplitN(tags, "-", 3)
	if len(parts) != 3 {
		panic(fmt.Sprintf("wheeltest: tags %q are not python-abi-platform", tags))
	}
	return strings.Split(parts[0], "."), strings.Split(parts[1], "."), strings.Split(parts[2], ".")
}

// Psycopg2Like is a wheel shaped like psycopg2-binary's: a pure-Python
// psycopg2 package, a native extension module (fake: it cannot be imported,
// the package does not import it), vendored shared libraries in
// psycopg2_binary.libs, and a stray __pycache__ entry a layer must drop.
// tags is e.g. "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64".
func Psycopg2Like(version, tags string) Wheel {
	pys, _, plats := splitTags(tags)
	py := strings.TrimPrefix(pys[0], "cp")
	arch := "x86_64"
	if strings.Contains(plats[0], "aarch64") {
		arch = "aarch64"
	}
	ext := fmt.Sprintf("psycopg2/_psycopg.cpython-%s-%s-linux-gnu.so", py, arch)
	return Wheel{
		Project: "psycopg2-binary",
		Version: version,
		Tags:    tags,
		Files: []File{
			{Name: "psycopg2/__init__.py", Body: []byte(fmt.Sprintf("\"\"\"psycopg2 test double built by wheeltest.\"\"\"\n\nfrom psycopg2.extras import Json\n\n__version__ = %q\n__wheel_tags__ = %q\n", version, tags))},
			{Name: "psycopg2/extras.py", Body: []byte("class Json:\n    def __init__(self, adapted):\n        self.adapted = adapted\n")},
			{Name: "psycopg2/errorcodes.py", Body: []byte("UNIQUE_VIOLATION = '23505'\n")},
			{Name: ext, Body: fakeELF(arch, 48<<10, 1), Mode: 0o755},
			{Name: "psycopg2/__pycache__/__init__.cpython-" + py + ".pyc", Body: []byte("\x00\x00\x00\x00stale bytecode")},
			{Name: "psycopg2_binary.libs/libpq-e8a0c5b2.so.5.16", Body: fakeELF(arch, 96<<10, 2), Mode: 0o755},
			{Name: "psycopg2_binary.libs/libssl-0c2e1b2d.so.1.1", Body: fakeELF(arch, 64<<10, 3), Mode: 0o755},
			{Name: escape("psycopg2-binary") + "-" + version + ".dist-info/LICENSE", Body: []byte("LGPL with exceptions (test double)\n")},
			{Name: escape("psycopg2-binary") + "-" + version + ".dist-info/top_level.txt", Body: []byte("psycopg2\n")},
		},
	}
}

// Pure is a py3-none-any wheel with one module package.
func Pure(project, version, module string) Wheel {
	return Wheel{
		Project: project,
		Version: version,
		Tags:    "py3-none-any",
		Files: []File{
			{Name: module + "/__init__.py", Body: []byte(fmt.Sprintf("NAME = %q\nVERSION = %q\n", project, version))},
		},
	}
}

// fakeELF returns n bytes that start like an ELF shared object and go on
// with seeded pseudo-random, partly compressible content, like real
// libraries.
func fakeELF(arch string, n int, seed uint64) []byte {
	return elfLike(arch, n, seed, func(r *rand.Rand) bool { return r.IntN(3) == 0 })
}

// noisyELF is fakeELF with three random bytes in four, about as
// compressible as real shared libraries.
func noisyELF(arch string, n int, seed uint64) []byte {
	return elfLike(arch, n, seed, func(r *rand.Rand) bool { return r.IntN(4) != 0 })
}

func elfLike(arch string, n int, seed uint64, randomByte func(*rand.Rand) bool) []byte {
	b := make([]byte, n)
	copy(b, "\x7fELF\x02\x01\x01\x00")
	machine := byte(0x3e) // x86-64
	if arch == "aarch64" {
		machine = 0xb7
	}
	if n > 18 {
		b[16], b[18] = 3, machine // ET_DYN, e_machine
	}
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	words := []string{"PQconnectdb", "SSL_read", "pg_encoding", "libpq", "GLIBC_2.17", "\x00\x00\x00\x00"}
	for i := 64; i < n; {
		if randomByte(r) {
			b[i] = byte(r.IntN(256))
			i++
			continue
		}
		i += copy(b[i:], words[r.IntN(len(words))])
	}
	return b
}

// Big is a psycopg2-binary-shaped wheel of about the real one's weight
// (3 MB zipped, 10 MB unzipped), for benchmarks.
func Big(version, tags string) Wheel {
	w := Psycopg2Like(version, tags)
	arch := "x86_64"
	if strings.Contains(tags, "aarch64") {
		arch = "aarch64"
	}
	libs := []struct {
		name string
		size int
	}{
		{"libcrypto-4f2c1a5e.so.3", 4 << 20},
		{"libssl-7d3b9c11.so.3", 1 << 20},
		{"libkrb5-fb0d2caa.so.3.3", 1 << 20},
		{"libgssapi_krb5-497db0c6.so.2.2", 512 << 10},
		{"libldap-1c2bb5a8.so.2.0.200", 512 << 10},
		{"libpq-9b38f5e3.so.5.17", 512 << 10},
	}
	for i, l := range libs {
		w.Files = append(w.Files, File{Name: "psycopg2_binary.libs/" + l.name, Body: noisyELF(arch, l.size, uint64(10+i)), Mode: 0o755})
	}
	for i := 0; i < 40; i++ {
		w.Files = append(w.Files, File{Name: fmt.Sprintf("psycopg2/tests/test_%02d.py", i), Body: []byte(strings.Repeat(fmt.Sprintf("def test_%d():\n    assert True\n\n", i), 200))})
	}
	sort.Slice(w.Files, func(i, j int) bool { return w.Files[i].Name < w.Files[j].Name })
	return w
}
