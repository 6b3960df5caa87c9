package layer

import (
	"strings"
	"testing"
)

// FuzzParseRequirements feeds requirement text from a hostile input: it
// never panics, a pin it accepts round-trips through its own line, and a
// version never carries anything a URL or a file name could be steered by.
func FuzzParseRequirements(f *testing.F) {
	f.Add("psycopg2-binary==2.9.10")
	f.Add("psycopg2-binary==2.9.10 \\\n    --hash=sha256:" + strings.Repeat("a", 64) + "\n--require-hashes\n")
	f.Add("pkg[extra1, extra2] === 1.0+local ; python_version<'3'")
	f.Add("# comment \\\nname==1 # trailing\r\n-e git+https://x\n")
	f.Add("a==1\nA==2\n../../x==1")
	f.Fuzz(func(t *testing.T, text string) {
		reqs, err := ParseRequirements(text)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error must say what is wrong")
			}
			return
		}
		for _, r := range reqs {
			if strings.ContainsAny(r.Version, "/\\ \t\n\r?#%") || strings.ContainsAny(r.Name, "/\\ \t\n\r?#%") {
				t.Fatalf("pin %q carries path or URL characters", r.String())
			}
			again, err := ParseRequirements(r.String())
			if err != nil || len(again) != 1 || again[0].Name != r.Name || again[0].Version != r.Version || again[0].Arbitrary != r.Arbitrary {
				t.Fatalf("pin %q does not re-parse to itself: %v %+v", r.String(), err, again)
			}
			for _, h := range r.Hashes {
				if len(h) != 64 || strings.ToLower(h) != h {
					t.Fatalf("hash %q is not lower-case sha256 hex", h)
				}
			}
			if r.Line < 1 || r.Line > strings.Count(text, "\n")+1 {
				t.Fatalf("line %d out of range", r.Line)
			}
		}
	})
}
