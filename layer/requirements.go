package layer

import (
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strings"
)

// Requirement is one exact pin, name==version, with the sha256 hashes a
// --hash option allows (none = any file the index vouches for).
type Requirement struct {
	Name    string   // as written, e.g. psycopg2-binary
	Extras  []string // as written; ignored, since dependencies are listed themselves
	Version string   // exact, e.g. 2.9.10
	// Arbitrary is true for "===": the version string must match the
	// file's version as text rather than as a PEP 440 version.
	Arbitrary bool
	Hashes    []string // lower-case hex sha256 values from --hash=sha256:...
	Line      int      // line in the requirements text, from 1
}

// String returns the pin as a requirements line would write it.
func (r Requirement) String() string {
	op := "=="
	if r.Arbitrary {
		op = "==="
	}
	return r.Name + op + r.Version
}

// NormalizeName returns a project name in PEP 503 normal form: lower case,
// each run of "-", "_" and "." turned into one "-".
func NormalizeName(name string) string {
	return strings.ToLower(nameSeparatorRE.ReplaceAllString(name, "-"))
}

var (
	nameSeparatorRE = regexp.MustCompile(`[-_.]+`)
	// comments start a line or follow whitespace, as pip reads them.
	commentRE = regexp.MustCompile(`(^|\s+)#.*$`)
	// reqRE splits "name[extras] <rest>".
	reqRE       = regexp.MustCompile(`^([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[([^\]]*)\])?\s*(.*)$`)
	exactRE     = regexp.MustCompile(`^(===?)\s*([^\s,;=<>!~*]+)$`)
	versionRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+!-]*$`)
	sha256HexRE = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
)

// ParseRequirements reads requirements text: one exact pin (name==version)
// per line, "#" comments, "\" line continuations and pip-style
// --hash=sha256:... options, as pip-compile writes them. Every bad line is
// reported, together.
func ParseRequirements(text string) ([]Requirement, error) {
	return parseRequirements(text, "requirements")
}

// LoadRequirements reads the requirements input, which is either inline pins
// or the path of a requirements file: text with a newline or a version
// operator is inline, anything else names a file read with readFile. Empty
// input gives DefaultRequirements.
func LoadRequirements(input string, readFile func(string) ([]byte, error)) ([]Requirement, error) {
	trimmed := strings.TrimSpace(input)
	if trimmed == "" {
		return DefaultRequirements(), nil
	}
	if strings.ContainsAny(trimmed, "\n=<>!~;#") {
		return ParseRequirements(input)
	}
	data, err := readFile(trimmed)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if looksLikePath(trimmed) {
				return nil, fmt.Errorf("requirements file %q does not exist; give the path of a requirements file (relative to the workspace) or inline pins such as %s", trimmed, DefaultRequirementsText)
			}
			// A bare name such as "psycopg2-binary": say what a pin needs.
			return ParseRequirements(input)
		}
		return nil, fmt.Errorf("requirements file %q: %w", trimmed, err)
	}
	reqs, err := parseRequirements(string(data), fmt.Sprintf("requirements file %q", trimmed))
	if err != nil {
		return nil, err
	}
	if len(reqs) == 0 {
		return nil, fmt.Errorf("requirements file %q lists no packages; pin at least one, e.g. %s", trimmed, DefaultRequirementsText)
	}
	return reqs, nil
}

func looksLikePath(s string) bool {
	return strings.ContainsAny(s, `/\`) || strings.HasSuffix(s, ".txt") || strings.HasSuffix(s, ".in")
}

// logicalLine is one requirement line after joining continuations.
type logicalLine struct {
	text string
	num  int // first physical line
}

// logicalLines joins "\"-continued lines as pip does: a comment line never
// continues, even when it ends in a backslash.
func logicalLines(text string) []logicalLine {
	var out []logicalLine
	var b strings.Builder
	start := 0
	phys := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	for i, l := range phys {
		if b.Len() == 0 {
			start = i + 1
		}
		isComment := strings.HasPrefix(strings.TrimSpace(l), "#")
		if strings.HasSuffix(l, `\`) && !isComment && i < len(phys)-1 {
			b.WriteString(strings.TrimSuffix(l, `\`))
			b.WriteByte(' ')
			continue
		}
		b.WriteString(l)
		out = append(out, logicalLine{text: b.String(), num: start})
		b.Reset()
	}
	return out
}

func parseRequirements(text, source string) ([]Requirement, error) {
	var (
		reqs        []Requirement
		errs        []error
		requireHash bool
		seen        = map[string]int{}
	)
	for _, ll := range logicalLines(text) {
		line := strings.TrimSpace(commentRE.ReplaceAllString(ll.text, ""))
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "-") {
			if line == "--require-hashes" {
				requireHash = true
				continue
			}
			errs = append(errs, fmt.Errorf("%s line %d: %w", source, ll.num, optionLineError(line)))
			continue
		}
		r, err := parseRequirementLine(line)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s line %d: %w", source, ll.num, err))
			continue
		}
		r.Line = ll.num
		key := NormalizeName(r.Name)
		if first, dup := seen[key]; dup {
			errs = append(errs, fmt.Errorf("%s line %d: %q is pinned again (first on line %d); keep one pin per package", source, ll.num, r.Name, first))
			continue
		}
		seen[key] = ll.num
		reqs = append(reqs, r)
	}
	if requireHash {
		for _, r := range reqs {
			if len(r.Hashes) == 0 {
				errs = append(errs, fmt.Errorf("%s line %d: %q has no --hash but --require-hashes is set; add --hash=sha256:<hex> (pip-compile --generate-hashes writes them)", source, r.Line, r.String()))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return reqs, nil
}

func optionLineError(line string) error {
	opt, _, _ := strings.Cut(strings.Fields(line)[0], "=")
	switch opt {
	case "-i", "--index-url", "--extra-index-url":
		return fmt.Errorf("option %q is not supported in requirements; set the index-url input instead and remove the line", opt)
	case "-r", "--requirement", "-c", "--constraint":
		return fmt.Errorf("option %q (an included file) is not supported; list every pin in one file, as pip-compile output does", opt)
	case "-e", "--editable":
		return fmt.Errorf("editable requirement %q is not supported; pin a released wheel with name==version", line)
	case "--hash":
		return fmt.Errorf("%q has no requirement before it; put --hash options on the pin's line (or its \\ continuation)", line)
	default:
		return fmt.Errorf("option %q is not supported in requirements; remove it (only name==version pins, --hash and --require-hashes are read)", opt)
	}
}

func parseRequirementLine(line string) (Requirement, error) {
	spec, opts := line, ""
	if i := strings.Index(line, " -"); i >= 0 {
		spec, opts = strings.TrimSpace(line[:i]), line[i:]
	}
	m := reqRE.FindStringSubmatch(spec)
	if m == nil {
		return Requirement{}, fmt.Errorf("%q is not a requirement; write name==version, e.g. %s", spec, DefaultRequirementsText)
	}
	name, extras, rest := m[1], m[2], strings.TrimSpace(m[3])
	r := Requirement{Name: name}
	for _, e := range strings.Split(extras, ",") {
		if e = strings.TrimSpace(e); e != "" {
			r.Extras = append(r.Extras, e)
		}
	}
	switch {
	case strings.HasPrefix(rest, "@"):
		return Requirement{}, fmt.Errorf("%q is a direct URL requirement, which is not supported; publish the wheel to the index and pin it as %s==<version>", spec, name)
	case strings.Contains(rest, ";"):
		return Requirement{}, fmt.Errorf("%q has an environment marker, which is not supported; compile the requirements for the layer's target (Linux, the layer's Python version) and drop the marker", spec)
	}
	em := exactRE.FindStringSubmatch(rest)
	if em == nil || !versionRE.MatchString(em[2]) {
		return Requirement{}, notPinnedError(spec, name)
	}
	r.Version = em[2]
	r.Arbitrary = em[1] == "==="
	hashes, err := parseHashOptions(opts)
	if err != nil {
		return Requirement{}, fmt.Errorf("%q: %w", r.String(), err)
	}
	r.Hashes = hashes
	return r, nil
}

func notPinnedError(spec, name string) error {
	example := name + "==<version>"
	if NormalizeName(name) == "psycopg2-binary" {
		example = DefaultRequirementsText
	}
	return fmt.Errorf("%q is not an exact pin; a layer must be reproducible, so write name==version, e.g. %s (pip-compile writes such a file)", spec, example)
}

func parseHashOptions(opts string) ([]string, error) {
	fields := strings.Fields(opts)
	var hashes []string
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		var val string
		switch {
		case strings.HasPrefix(f, "--hash="):
			val = strings.TrimPrefix(f, "--hash=")
		case f == "--hash" && i+1 < len(fields):
			i++
			val = fields[i]
		default:
			opt, _, _ := strings.Cut(f, "=")
			return nil, fmt.Errorf("option %q is not supported; only --hash=sha256:<hex> may follow a pin", opt)
		}
		algo, hex, ok := strings.Cut(val, ":")
		switch {
		case !ok:
			return nil, fmt.Errorf("hash %q is malformed; write --hash=sha256:<64 hex digits>", val)
		case algo != "sha256":
			return nil, fmt.Errorf("hash algorithm %q is not supported; use sha256 (pip-compile --generate-hashes writes sha256)", algo)
		case !sha256HexRE.MatchString(hex):
			return nil, fmt.Errorf("sha256 %q is not 64 hex digits; copy the whole value", hex)
		}
		hashes = append(hashes, strings.ToLower(hex))
	}
	return hashes, nil
}
