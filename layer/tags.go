package layer

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// wheelName is a parsed wheel file name (PEP 427):
// {name}-{version}(-{build})?-{python}-{abi}-{platform}.whl, where each tag
// part may be a "."-separated compressed tag set.
type wheelName struct {
	Filename  string
	Name      string // as in the file name (escaped: "-" written "_")
	Version   string
	Build     string // optional build tag, starts with a digit
	Pythons   []string
	ABIs      []string
	Platforms []string
}

var buildTagRE = regexp.MustCompile(`^(\d+)(.*)$`)

func parseWheelFilename(fn string) (wheelName, error) {
	stem, ok := strings.CutSuffix(fn, ".whl")
	if !ok {
		return wheelName{}, fmt.Errorf("%q is not a wheel: the name does not end in .whl", fn)
	}
	parts := strings.Split(stem, "-")
	w := wheelName{Filename: fn}
	switch len(parts) {
	case 5:
	case 6:
		if !buildTagRE.MatchString(parts[2]) {
			return wheelName{}, fmt.Errorf("wheel %q: build tag %q does not start with a digit", fn, parts[2])
		}
		w.Build = parts[2]
		parts = append(parts[:2], parts[3:]...)
	default:
		return wheelName{}, fmt.Errorf("wheel %q does not have the form name-version(-build)-python-abi-platform.whl", fn)
	}
	for _, p := range parts {
		if p == "" {
			return wheelName{}, fmt.Errorf("wheel %q has an empty name part", fn)
		}
	}
	w.Name, w.Version = parts[0], parts[1]
	w.Pythons = strings.Split(parts[2], ".")
	w.ABIs = strings.Split(parts[3], ".")
	w.Platforms = strings.Split(parts[4], ".")
	return w, nil
}

// tags expands the compressed tag sets into every python-abi-platform triple.
func (w wheelName) tags() []string {
	var out []string
	for _, py := range w.Pythons {
		for _, abi := range w.ABIs {
			for _, plat := range w.Platforms {
				out = append(out, py+"-"+abi+"-"+plat)
			}
		}
	}
	return out
}

// buildNumber orders build tags: a larger number wins, as in pip.
func (w wheelName) buildNumber() (int, string) {
	m := buildTagRE.FindStringSubmatch(w.Build)
	if m == nil {
		return -1, ""
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return -1, m[2]
	}
	return n, m[2]
}

// target is the Lambda runtime a layer is built for.
type target struct {
	pythonMinor int    // 11 for CPython 3.11
	arch        string // wheel platform suffix: x86_64 or aarch64
	glibcMinor  int    // 26 for glibc 2.26
}

func newTarget(o Options) (target, error) {
	minor, ok := pythonMinor(o.PythonVersion)
	if !ok {
		return target{}, fmt.Errorf("python-version %q is invalid; valid versions are %s", o.PythonVersion, validPythonVersions())
	}
	arch, ok := architectures[o.Architecture]
	if !ok {
		return target{}, fmt.Errorf("architecture %q is invalid; valid values are x86_64, arm64", o.Architecture)
	}
	g, ok := glibcMinor(o.Glibc)
	if !ok {
		return target{}, fmt.Errorf("glibc %q is invalid; write major.minor, e.g. 2.26", o.Glibc)
	}
	return target{pythonMinor: minor, arch: arch, glibcMinor: g}, nil
}

func (t target) String() string {
	return fmt.Sprintf("CPython 3.%d, manylinux %s, glibc 2.%d", t.pythonMinor, t.arch, t.glibcMinor)
}

// legacyManylinux maps the glibc minor of each legacy manylinux tag to its
// name, and the architectures it was defined for (PEP 513, 571, 599).
var legacyManylinux = map[int]struct {
	name  string
	archs []string
}{
	17: {"manylinux2014", []string{"x86_64", "i686", "aarch64", "armv7l", "ppc64", "ppc64le", "s390x"}},
	12: {"manylinux2010", []string{"x86_64", "i686"}},
	5:  {"manylinux1", []string{"x86_64", "i686"}},
}

// platforms lists the platform tags the target runs, most specific first:
// manylinux_2_Y for every Y from the target's glibc down to the oldest the
// architecture has (2.5 on x86_64, 2.17 elsewhere), each followed by its
// legacy alias. This is packaging.tags' order. Plain linux_* wheels (built
// for one machine), musllinux, macOS and Windows never appear.
func (t target) platforms() []string {
	oldest := 17
	if t.arch == "x86_64" {
		oldest = 5
	}
	var out []string
	for y := t.glibcMinor; y >= oldest; y-- {
		out = append(out, fmt.Sprintf("manylinux_2_%d_%s", y, t.arch))
		if l, ok := legacyManylinux[y]; ok {
			for _, a := range l.archs {
				if a == t.arch {
					out = append(out, l.name+"_"+t.arch)
				}
			}
		}
	}
	return out
}

// supportedTags lists every tag the target accepts, best first, in the order
// of packaging.tags.sys_tags for CPython: cp3N-cp3N, cp3N-abi3, cp3N-none and
// older cp3M-abi3 on each platform; then py3N/py3/py3M-none on each
// platform; then cp3N-none-any and py*-none-any.
func (t target) supportedTags() []string {
	plats := t.platforms()
	cp := fmt.Sprintf("cp3%d", t.pythonMinor)
	var out []string
	add := func(py, abi string, ps []string) {
		for _, p := range ps {
			out = append(out, py+"-"+abi+"-"+p)
		}
	}
	add(cp, cp, plats)
	add(cp, "abi3", plats)
	add(cp, "none", plats)
	for m := t.pythonMinor - 1; m >= 2; m-- {
		add(fmt.Sprintf("cp3%d", m), "abi3", plats)
	}
	pys := []string{fmt.Sprintf("py3%d", t.pythonMinor), "py3"}
	for m := t.pythonMinor - 1; m >= 0; m-- {
		pys = append(pys, fmt.Sprintf("py3%d", m))
	}
	for _, py := range pys {
		add(py, "none", plats)
	}
	add(cp, "none", []string{"any"})
	for _, py := range pys {
		add(py, "none", []string{"any"})
	}
	return out
}

// tagRanker ranks wheel tags for one target: a lower rank is a better fit.
type tagRanker struct {
	rank map[string]int
}

func newTagRanker(t target) tagRanker {
	tags := t.supportedTags()
	r := tagRanker{rank: make(map[string]int, len(tags))}
	for i, tag := range tags {
		r.rank[tag] = i
	}
	return r
}

// best returns the wheel's best-fitting tag and its rank, or ok=false if no
// tag of the wheel fits the target.
func (r tagRanker) best(w wheelName) (tag string, rank int, ok bool) {
	rank = -1
	for _, t := range w.tags() {
		if i, found := r.rank[t]; found && (rank < 0 || i < rank) {
			tag, rank = t, i
		}
	}
	return tag, rank, rank >= 0
}

// mismatch says in a few words why none of a wheel's tags fits the target,
// for the error that lists what the index offers.
func (t target) mismatch(w wheelName) string {
	plats := strings.Join(w.Platforms, ".")
	switch {
	case strings.Contains(plats, "musllinux"):
		return "musllinux (Lambda runs glibc)"
	case strings.Contains(plats, "macosx"):
		return "macOS"
	case strings.Contains(plats, "win"):
		return "Windows"
	}
	pairs := map[string]bool{}
	for _, tag := range t.supportedTags() {
		i := strings.LastIndex(tag, "-")
		pairs[tag[:i]] = true
	}
	for _, py := range w.Pythons {
		for _, abi := range w.ABIs {
			if pairs[py+"-"+abi] {
				return platformMismatch(w.Platforms, t)
			}
		}
	}
	return fmt.Sprintf("other Python or ABI (%s-%s)", strings.Join(w.Pythons, "."), strings.Join(w.ABIs, "."))
}

var manylinuxRE = regexp.MustCompile(`^manylinux_(\d+)_(\d+)_(.+)$`)

func platformMismatch(plats []string, t target) string {
	for _, p := range plats {
		major, minor, arch, ok := manylinuxVersion(p)
		if !ok {
			continue
		}
		if arch != t.arch {
			return fmt.Sprintf("other architecture (%s)", arch)
		}
		if major > 2 || minor > t.glibcMinor {
			return fmt.Sprintf("needs glibc %d.%d, newer than the target's 2.%d", major, minor, t.glibcMinor)
		}
	}
	if strings.HasPrefix(strings.Join(plats, "."), "linux_") {
		return "plain linux wheel (not manylinux, built for one machine)"
	}
	return "other platform (" + strings.Join(plats, ".") + ")"
}

// manylinuxVersion reads the glibc version and architecture of a manylinux
// platform tag, in both the PEP 600 and the legacy spellings.
func manylinuxVersion(p string) (major, minor int, arch string, ok bool) {
	if m := manylinuxRE.FindStringSubmatch(p); m != nil {
		major, _ = strconv.Atoi(m[1])
		minor, _ = strconv.Atoi(m[2])
		return major, minor, m[3], true
	}
	for y, l := range legacyManylinux {
		if a, found := strings.CutPrefix(p, l.name+"_"); found {
			return 2, y, a, true
		}
	}
	return 0, 0, "", false
}
