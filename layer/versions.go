package layer

import (
	"regexp"
	"strconv"
	"strings"
)

// pep440 is a parsed PEP 440 version, enough to match pins against file
// versions ("1.0" == "1.0.0", "1.0RC1" == "1.0rc1") and to evaluate a
// file's requires-python against the target CPython.
type pep440 struct {
	epoch   int
	release []int
	pre     string // "a1", "b2", "rc3" or ""
	post    int    // -1 when absent
	dev     int    // -1 when absent
	local   string
}

var localSeparatorRE = regexp.MustCompile(`[-_]`)

var pep440RE = regexp.MustCompile(`(?i)^\s*v?(?:(\d+)!)?(\d+(?:\.\d+)*)` +
	`([-_.]?(a|b|c|rc|alpha|beta|pre|preview)[-_.]?(\d+)?)?` +
	`((?:-(\d+))|(?:[-_.]?(post|rev|r)[-_.]?(\d+)?))?` +
	`([-_.]?(dev)[-_.]?(\d+)?)?` +
	`(?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?\s*$`)

func parsePEP440(s string) (pep440, bool) {
	m := pep440RE.FindStringSubmatch(s)
	if m == nil {
		return pep440{}, false
	}
	atoi := func(s string) int {
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0
		}
		return n
	}
	v := pep440{epoch: atoi(m[1]), post: -1, dev: -1}
	for _, p := range strings.Split(m[2], ".") {
		v.release = append(v.release, atoi(p))
	}
	if m[3] != "" {
		label := strings.ToLower(m[4])
		switch label {
		case "alpha":
			label = "a"
		case "beta":
			label = "b"
		case "c", "pre", "preview":
			label = "rc"
		}
		v.pre = label + strconv.Itoa(atoi(m[5]))
	}
	switch {
	case m[7] != "":
		v.post = atoi(m[7])
	case m[6] != "":
		v.post = atoi(m[9])
	}
	if m[10] != "" {
		v.dev = atoi(m[12])
	}
	v.local = strings.ToLower(localSeparatorRE.ReplaceAllString(m[13], "."))
	return v, true
}

// public is the canonical public version, trailing zero release parts
// dropped, for equality.
func (v pep440) public() string {
	rel := v.release
	for len(rel) > 1 && rel[len(rel)-1] == 0 {
		rel = rel[:len(rel)-1]
	}
	var b strings.Builder
	if v.epoch != 0 {
		b.WriteString(strconv.Itoa(v.epoch) + "!")
	}
	for i, n := range rel {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.Itoa(n))
	}
	b.WriteString(v.pre)
	if v.post >= 0 {
		b.WriteString(".post" + strconv.Itoa(v.post))
	}
	if v.dev >= 0 {
		b.WriteString(".dev" + strconv.Itoa(v.dev))
	}
	return b.String()
}

// versionMatches says whether a file's version satisfies a pin.
func versionMatches(r Requirement, fileVersion string) bool {
	if r.Arbitrary {
		return strings.EqualFold(strings.TrimSpace(r.Version), strings.TrimSpace(fileVersion))
	}
	want, ok1 := parsePEP440(r.Version)
	got, ok2 := parsePEP440(fileVersion)
	if !ok1 || !ok2 {
		return strings.EqualFold(r.Version, fileVersion)
	}
	if want.public() != got.public() {
		return false
	}
	// A public pin matches any local label; a local pin only its own.
	return want.local == "" || want.local == got.local
}

// compareRelease compares release tuples, zero-padded.
func compareRelease(a, b []int) int {
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y int
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// comparePython compares the target's final release python (3, N) with a
// specifier version: a final release sorts after the pre and dev releases
// of the same number and before its post releases.
func comparePython(py []int, spec pep440) int {
	if spec.epoch != 0 {
		return -1
	}
	if c := compareRelease(py, spec.release); c != 0 {
		return c
	}
	switch {
	case spec.post >= 0:
		return -1
	case spec.pre != "" || spec.dev >= 0:
		return 1
	}
	return 0
}

// requiresPythonOK evaluates a requires-python specifier set for CPython
// 3.minor. A specifier it cannot read is ignored, as pip ignores it.
func requiresPythonOK(spec string, minor int) bool {
	py := []int{3, minor}
	for _, clause := range strings.Split(spec, ",") {
		clause = strings.TrimSpace(clause)
		if clause == "" {
			continue
		}
		ok, valid := evalClause(clause, py)
		if valid && !ok {
			return false
		}
	}
	return true
}

var clauseRE = regexp.MustCompile(`^(===|==|!=|~=|<=|>=|<|>)\s*(.+)$`)

func evalClause(clause string, py []int) (ok, valid bool) {
	m := clauseRE.FindStringSubmatch(clause)
	if m == nil {
		return false, false
	}
	op, ver := m[1], strings.TrimSpace(m[2])
	if op == "===" {
		return ver == "3."+strconv.Itoa(py[1]), true
	}
	if op == "==" || op == "!=" {
		if prefix, wild := strings.CutSuffix(ver, ".*"); wild {
			v, ok := parsePEP440(prefix)
			if !ok {
				return false, false
			}
			match := v.epoch == 0 && len(v.release) <= len(py)+1 && compareRelease(padTo(py, len(v.release)), v.release) == 0
			return match == (op == "=="), true
		}
	}
	v, ok := parsePEP440(ver)
	if !ok {
		return false, false
	}
	c := comparePython(py, v)
	switch op {
	case "==":
		return c == 0, true
	case "!=":
		return c != 0, true
	case "<":
		return c < 0, true
	case "<=":
		return c <= 0, true
	case ">":
		return c > 0, true
	case ">=":
		return c >= 0, true
	case "~=":
		if len(v.release) < 2 {
			return false, false
		}
		prefix := v.release[:len(v.release)-1]
		return c >= 0 && compareRelease(padTo(py, len(prefix)), prefix) == 0, true
	}
	return false, false
}

// padTo returns v cut or zero-padded to n parts.
func padTo(v []int, n int) []int {
	out := make([]int, n)
	copy(out, v)
	return out
}
