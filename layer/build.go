package layer

import (
	"archive/zip"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Build downloads the wheel of every pin that fits the target runtime and
// writes the layer zip to o.Output. The zip is written to a temporary file
// beside the output and renamed over it only when complete, so a failure
// (network, hash, size) leaves no partial zip and keeps any previous one.
// Credentials never appear in errors or progress lines.
func Build(ctx context.Context, o Options) (*Result, error) {
	o = o.withDefaults()
	red := newRedactor(o.IndexURL, o.IndexToken)
	res, err := build(ctx, o, red)
	return res, red.Error(err)
}

func build(ctx context.Context, o Options, red redactor) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	t, err := newTarget(o)
	if err != nil {
		return nil, err
	}
	client, err := newIndexClient(o)
	if err != nil {
		return nil, err
	}
	p := &progress{w: o.Progress, now: o.Now, red: red}
	res := &Result{Path: o.Output, PythonVersion: o.PythonVersion, Architecture: o.Architecture, Glibc: o.Glibc}
	if def := DefaultGlibc(o.PythonVersion, o.Architecture); def != "" && o.Glibc != def {
		if g, _ := glibcMinor(o.Glibc); g > mustGlibcMinor(def) {
			res.Warnings = append(res.Warnings, fmt.Sprintf("glibc %s is newer than the python%s Lambda runtime's %s; wheels chosen for it may fail to load there", o.Glibc, o.PythonVersion, def))
		}
	}

	work, err := os.MkdirTemp("", "tfstate-guard-layer-")
	if err != nil {
		return nil, fmt.Errorf("create a work folder: %w", err)
	}
	defer os.RemoveAll(work)

	p.printf("building a layer for %s from %s", t, displayURL(client.base))
	ranker := newTagRanker(t)
	var wheels []openWheel
	defer func() {
		for _, w := range wheels {
			w.reader.Close()
		}
	}()
	for i, r := range o.Requirements {
		w, pkg, warns, err := fetch(ctx, client, r, t, ranker, filepath.Join(work, strconv.Itoa(i)+".whl"), p)
		if err != nil {
			return nil, err
		}
		wheels = append(wheels, w)
		res.Packages = append(res.Packages, pkg)
		res.Warnings = append(res.Warnings, warns...)
	}

	plan, err := planLayer(wheels)
	if err != nil {
		return nil, err
	}
	for _, w := range wheels {
		if n := plan.skipped[w.filename]; n > 0 {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s: left out %d file(s) of its .data scripts, headers or data folders, which a layer cannot use", w.filename, n))
		}
	}
	if plan.unzipped > o.unzippedLimit {
		return nil, fmt.Errorf("the layer would take %s unzipped, over Lambda's limit of %s for a function and all its layers; drop packages from requirements", HumanBytes(plan.unzipped), HumanBytes(o.unzippedLimit))
	}
	res.UnzippedSize = plan.unzipped
	res.Files = plan.files

	size, sum, err := writeAtomically(ctx, o.Output, plan)
	if err != nil {
		return nil, err
	}
	res.Size = size
	res.SHA256Base64 = base64.StdEncoding.EncodeToString(sum)
	if size > o.directUploadLimit {
		res.Warnings = append(res.Warnings, fmt.Sprintf("the layer zip is %s, over Lambda's %s direct-upload limit; upload it to S3 and publish it from there (s3_bucket and s3_key of aws_lambda_layer_version)", HumanBytes(size), HumanBytes(o.directUploadLimit)))
	}
	p.printf("wrote %s: %s, %s unzipped, %d files, sha256 (base64) %s", o.Output, HumanBytes(size), HumanBytes(plan.unzipped), plan.files, res.SHA256Base64)
	return res, nil
}

func mustGlibcMinor(v string) int {
	n, _ := glibcMinor(v)
	return n
}

// fetch finds, picks, downloads, verifies and opens the wheel of one pin.
func fetch(ctx context.Context, c *indexClient, r Requirement, t target, ranker tagRanker, dst string, p *progress) (openWheel, Package, []string, error) {
	files, err := c.projectFiles(ctx, r.Name)
	if err != nil {
		return openWheel{}, Package{}, nil, indexError(c, r, err)
	}
	cand, err := selectWheel(r, files, t, ranker)
	if err != nil {
		return openWheel{}, Package{}, nil, err
	}
	p.printf("%s: picked %s (tag %s)", r, cand.file.Filename, cand.tag)
	got, err := c.download(ctx, r, cand.file, dst, p)
	if err != nil {
		return openWheel{}, Package{}, nil, err
	}
	var warns []string
	if cand.file.SHA256 == "" && len(r.Hashes) == 0 {
		warns = append(warns, fmt.Sprintf("the index gave no sha256 for %s and requirements line %d has no --hash; its content is unverified", cand.file.Filename, r.Line))
	}
	if len(r.Extras) > 0 {
		warns = append(warns, fmt.Sprintf("requirements line %d: extras [%s] of %s add no packages here, since dependencies are not resolved; pin their packages too", r.Line, strings.Join(r.Extras, ","), r.Name))
	}
	zr, err := zip.OpenReader(got.path)
	if err != nil {
		return openWheel{}, Package{}, nil, fmt.Errorf("open %s: %w; the file is not a valid wheel", cand.file.Filename, err)
	}
	w := openWheel{filename: cand.file.Filename, project: NormalizeName(r.Name), reader: zr}
	pkg := Package{Name: r.Name, Version: cand.wheel.Version, Filename: cand.file.Filename, Size: got.size, SHA256: got.sha256, Tag: cand.tag}
	return w, pkg, warns, nil
}

// indexError explains a failed project page read in terms of the inputs.
func indexError(c *indexClient, r Requirement, err error) error {
	var se *HTTPStatusError
	if errors.As(err, &se) {
		switch se.StatusCode {
		case 404:
			return fmt.Errorf("requirements line %d: package %q is not on the index %s (HTTP 404); check its name, or set index-url to the index that has it: %w", r.Line, r.Name, displayURL(c.base), err)
		case 401, 403:
			return fmt.Errorf("requirements line %d: the index %s refused access to %q (HTTP %d); put credentials in index-url (https://user:password@host/simple/) or set index-token: %w", r.Line, displayURL(c.base), r.Name, se.StatusCode, err)
		}
	}
	return fmt.Errorf("requirements line %d: read the index page of %q: %w", r.Line, r.Name, err)
}

// writeAtomically writes the zip into a temporary file in the output's
// folder, syncs it, makes it 0644 and renames it over the output; on any
// failure the temporary file is removed.
func writeAtomically(ctx context.Context, output string, plan layerPlan) (size int64, sum []byte, err error) {
	dir := filepath.Dir(output)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, nil, fmt.Errorf("output %q: create its folder: %w", output, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(output)+".tmp-*")
	if err != nil {
		return 0, nil, fmt.Errorf("output %q: create a temporary file: %w", output, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	cw := &countingWriter{}
	bw := bufio.NewWriterSize(io.MultiWriter(tmp, h, cw), 1<<20)
	if err := writeZip(ctx, bw, plan); err != nil {
		return 0, nil, fmt.Errorf("write %s: %w", output, err)
	}
	if err := bw.Flush(); err != nil {
		return 0, nil, fmt.Errorf("write %s: %w", output, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return 0, nil, fmt.Errorf("write %s: %w", output, err)
	}
	if err := tmp.Sync(); err != nil {
		return 0, nil, fmt.Errorf("write %s: %w", output, err)
	}
	if err := tmp.Close(); err != nil {
		return 0, nil, fmt.Errorf("write %s: %w", output, err)
	}
	if err := os.Rename(tmp.Name(), output); err != nil {
		return 0, nil, fmt.Errorf("write %s: %w", output, err)
	}
	return cw.n, h.Sum(nil), nil
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(b []byte) (int, error) {
	c.n += int64(len(b))
	return len(b), nil
}
