package layer

import (
	"fmt"
	"slices"
	"strings"
)

// candidate is a file of the pinned version that the target can load.
type candidate struct {
	file  indexFile
	wheel wheelName
	tag   string // the best-fitting tag
	rank  int    // position of tag in the target's supported tags
}

// offer is a file of the pinned version that was turned down, and why.
type offer struct {
	filename, reason string
}

// maxOffersListed bounds the list of refused files in an error.
const maxOffersListed = 40

// NoWheelError says that no file of a pin fits the target, listing what the
// index offers for that version and why each was turned down.
type NoWheelError struct {
	Requirement Requirement
	Target      string
	Offers      []string // "file: reason"
	Versions    []string // versions the index has, when it has none of the pin
}

func (e *NoWheelError) Error() string {
	var b strings.Builder
	if len(e.Offers) == 0 {
		fmt.Fprintf(&b, "requirements line %d: the index has no files for %s", e.Requirement.Line, e.Requirement)
		if len(e.Versions) > 0 {
			fmt.Fprintf(&b, "; versions it has: %s", strings.Join(e.Versions, ", "))
		}
		b.WriteString("; pin a version the index has")
		return b.String()
	}
	fmt.Fprintf(&b, "requirements line %d: no wheel of %s fits %s; the index offers:", e.Requirement.Line, e.Requirement, e.Target)
	for i, o := range e.Offers {
		if i == maxOffersListed {
			fmt.Fprintf(&b, "\n  ... and %d more", len(e.Offers)-i)
			break
		}
		b.WriteString("\n  " + o)
	}
	b.WriteString("\npin a version that publishes a matching manylinux wheel, or change python-version, architecture or glibc to the function's runtime")
	return b.String()
}

// selectWheel picks the best wheel of the pinned version for the target:
// the lowest tag rank (exact cp3N ABI before abi3 before none, newest
// compatible glibc first), then the highest build tag, then the file name.
// Yanked files, files whose requires-python excludes the target, and files
// whose index hash no --hash pin allows are turned down.
func selectWheel(r Requirement, files []indexFile, t target, ranker tagRanker) (candidate, error) {
	var (
		cands    []candidate
		offers   []offer
		versions []string
	)
	seenVersion := map[string]bool{}
	noteVersion := func(v string) {
		if !seenVersion[v] {
			seenVersion[v] = true
			versions = append(versions, v)
		}
	}
	want := NormalizeName(r.Name)
	for _, f := range files {
		if !strings.HasSuffix(f.Filename, ".whl") {
			if v, ok := sdistVersion(f.Filename, want); ok {
				noteVersion(v)
				if versionMatches(r, v) {
					offers = append(offers, offer{f.Filename, "source distribution, never built"})
				}
			}
			continue
		}
		w, err := parseWheelFilename(f.Filename)
		if err != nil || NormalizeName(w.Name) != want {
			continue
		}
		noteVersion(w.Version)
		if !versionMatches(r, w.Version) {
			continue
		}
		tag, rank, ok := ranker.best(w)
		switch {
		case !ok:
			offers = append(offers, offer{f.Filename, t.mismatch(w)})
		case f.Yanked:
			reason := "yanked"
			if f.YankedReason != "" {
				reason += ": " + f.YankedReason
			}
			offers = append(offers, offer{f.Filename, reason})
		case f.RequiresPython != "" && !requiresPythonOK(f.RequiresPython, t.pythonMinor):
			offers = append(offers, offer{f.Filename, fmt.Sprintf("requires-python %q excludes 3.%d", f.RequiresPython, t.pythonMinor)})
		case len(r.Hashes) > 0 && f.SHA256 != "" && !slices.Contains(r.Hashes, f.SHA256):
			offers = append(offers, offer{f.Filename, "its sha256 " + f.SHA256 + " is not among the --hash pins"})
		default:
			cands = append(cands, candidate{file: f, wheel: w, tag: tag, rank: rank})
		}
	}
	if len(cands) == 0 {
		e := &NoWheelError{Requirement: r, Target: t.String()}
		for _, o := range offers {
			e.Offers = append(e.Offers, o.filename+": "+o.reason)
		}
		if len(offers) == 0 {
			if len(versions) > 10 {
				versions = versions[len(versions)-10:]
			}
			e.Versions = versions
		}
		return candidate{}, e
	}
	slices.SortStableFunc(cands, func(a, b candidate) int {
		if a.rank != b.rank {
			return a.rank - b.rank
		}
		an, as := a.wheel.buildNumber()
		bn, bs := b.wheel.buildNumber()
		if an != bn {
			return bn - an // higher build wins
		}
		if as != bs {
			return strings.Compare(bs, as)
		}
		return strings.Compare(a.file.Filename, b.file.Filename)
	})
	return cands[0], nil
}

// sdistVersion reads the version of a source distribution file name
// ({name}-{version}.tar.gz or .zip) when its name is the project's.
func sdistVersion(filename, normalizedName string) (string, bool) {
	for _, ext := range []string{".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar"} {
		stem, ok := strings.CutSuffix(filename, ext)
		if !ok {
			continue
		}
		i := strings.LastIndex(stem, "-")
		if i <= 0 || NormalizeName(stem[:i]) != normalizedName {
			return "", false
		}
		return stem[i+1:], true
	}
	return "", false
}
