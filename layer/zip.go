package layer

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
)

// zipTime is every entry's modification time: the zip epoch, in UTC, so
// neither the clock nor the time zone of the build reaches the bytes.
var zipTime = time.Date(1980, time.January, 1, 0, 0, 0, 0, time.UTC)

// Entry modes: files 0644, executables and directories 0755.
const (
	fileMode = 0o644
	execMode = 0o755
	dirMode  = fs.ModeDir | 0o755
)

// layerRoot is the folder Lambda adds to sys.path for Python layers.
const layerRoot = "python/"

// openWheel is a downloaded wheel open for reading.
type openWheel struct {
	filename string
	project  string // normalized project name
	reader   *zip.ReadCloser
}

// entry is one member of the layer zip.
type entry struct {
	name  string      // path in the layer zip
	mode  fs.FileMode // normalized
	src   *zip.File   // nil for directories
	wheel string      // the wheel it comes from
}

// layerPlan is the layer's content, sorted, before anything is written.
type layerPlan struct {
	entries  []entry
	files    int
	unzipped int64
	skipped  map[string]int // wheel file -> members left out (.data scripts, headers, data)
}

// planLayer maps every wheel member to its place under python/, as pip
// install --target would: purelib and platlib .data folders merge into the
// root; scripts, headers and data are left out (a layer cannot use them);
// __pycache__ folders and .pyc/.pyo files are left out (they embed
// timestamps). A path two wheels both write is an error unless the two
// files are identical.
func planLayer(wheels []openWheel) (layerPlan, error) {
	plan := layerPlan{skipped: map[string]int{}}
	files := map[string]entry{}
	for _, w := range wheels {
		distInfo := 0
		for _, f := range w.reader.File {
			if strings.HasSuffix(f.Name, "/") {
				continue // directories are rebuilt from the file paths
			}
			rel, err := memberPath(f.Name)
			if err != nil {
				return layerPlan{}, fmt.Errorf("wheel %s: %w", w.filename, err)
			}
			if f.Mode()&fs.ModeType != 0 {
				return layerPlan{}, fmt.Errorf("wheel %s: member %q is not a regular file (%s); wheels carry only files", w.filename, f.Name, f.Mode().Type())
			}
			first, rest, _ := strings.Cut(rel, "/")
			if rest == "WHEEL" && folderProject(first, ".dist-info") == w.project {
				distInfo++
			}
			if folderProject(first, ".data") == w.project {
				scheme, inner, _ := strings.Cut(rest, "/")
				if (scheme != "purelib" && scheme != "platlib") || inner == "" {
					plan.skipped[w.filename]++
					continue
				}
				rel = inner
			}
			if skipMember(rel) {
				continue
			}
			e := entry{name: layerRoot + rel, mode: fileMode, src: f, wheel: w.filename}
			if f.Mode()&0o111 != 0 {
				e.mode = execMode
			}
			if prev, dup := files[e.name]; dup {
				if prev.src.CRC32 == f.CRC32 && prev.src.UncompressedSize64 == f.UncompressedSize64 {
					continue // the same file twice, e.g. a shared namespace __init__.py
				}
				return layerPlan{}, fmt.Errorf("wheels %s and %s both install %s with different content; drop one of the two pins", prev.wheel, w.filename, e.name)
			}
			files[e.name] = e
		}
		if distInfo != 1 {
			return layerPlan{}, fmt.Errorf("wheel %s is not a valid wheel: it has no %s-*.dist-info/WHEEL for its project; check the file on the index", w.filename, w.project)
		}
	}

	dirs := map[string]bool{layerRoot: true}
	for name, e := range files {
		plan.files++
		plan.unzipped += int64(e.src.UncompressedSize64)
		for d := path.Dir(name); d != "." && d != "/"; d = path.Dir(d) {
			dirs[d+"/"] = true
		}
		plan.entries = append(plan.entries, e)
	}
	for d := range dirs {
		if f, clash := files[strings.TrimSuffix(d, "/")]; clash {
			return layerPlan{}, fmt.Errorf("wheel %s installs %s as a file, but another wheel needs it as a folder; drop one of the two pins", f.wheel, f.name)
		}
		plan.entries = append(plan.entries, entry{name: d, mode: dirMode})
	}
	slices.SortFunc(plan.entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	return plan, nil
}

// folderProject is the normalized project of a "{name}-{version}{suffix}"
// folder (suffix .dist-info or .data), or "" for any other folder.
func folderProject(dir, suffix string) string {
	stem, ok := strings.CutSuffix(dir, suffix)
	i := strings.LastIndex(stem, "-")
	if !ok || i <= 0 {
		return ""
	}
	return NormalizeName(stem[:i])
}

// memberPath checks a wheel member name and returns it as a clean relative
// path: no absolute paths, backslashes, "." or ".." parts, or empty parts.
func memberPath(name string) (string, error) {
	bad := name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, `\`) || strings.ContainsRune(name, 0)
	if !bad {
		for _, part := range strings.Split(name, "/") {
			if part == "" || part == "." || part == ".." {
				bad = true
				break
			}
		}
	}
	if bad {
		return "", fmt.Errorf("member %q is not a safe relative path; the wheel is malformed or hostile", name)
	}
	return name, nil
}

// skipMember says whether a path is bytecode that must stay out of the layer.
func skipMember(rel string) bool {
	if strings.HasSuffix(rel, ".pyc") || strings.HasSuffix(rel, ".pyo") {
		return true
	}
	return slices.Contains(strings.Split(rel, "/"), "__pycache__")
}

// writeZip writes the plan as a deterministic zip: entries in byte order of
// their names, every time zipTime, modes normalized, files deflated with Go's
// compress/flate at the default level, directories stored.
func writeZip(ctx context.Context, w io.Writer, plan layerPlan) error {
	zw := zip.NewWriter(w)
	for _, e := range plan.entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: zipTime}
		if e.src == nil {
			h.Method = zip.Store
		}
		h.SetMode(e.mode)
		dst, err := zw.CreateHeader(h)
		if err != nil {
			return fmt.Errorf("add %s: %w", e.name, err)
		}
		if e.src == nil {
			continue
		}
		if err := copyMember(dst, e.src); err != nil {
			return fmt.Errorf("add %s from %s: %w", e.name, e.wheel, err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("finish zip: %w", err)
	}
	return nil
}

// copyMember copies a wheel member; archive/zip checks its size and CRC-32
// against the wheel's directory while reading.
func copyMember(dst io.Writer, f *zip.File) error {
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := io.Copy(dst, rc); err != nil {
		return err
	}
	return rc.Close()
}
