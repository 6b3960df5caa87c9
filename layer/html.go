package layer

import (
	"html"
	"net/url"
	"path"
	"strings"
)

// parseHTMLPage reads a PEP 503 project page: one anchor per file, the
// sha256 in the href's fragment, data-requires-python and data-yanked as
// attributes. A <base href> changes what relative links resolve against.
// The parser is a small tolerant scanner: the pages are machine-written.
func parseHTMLPage(body []byte, pageURL *url.URL) []indexFile {
	s := string(body)
	lower := asciiLower(s) // same byte offsets as s
	base := pageURL
	var files []indexFile
	for i := 0; i < len(s); {
		lt := strings.IndexByte(s[i:], '<')
		if lt < 0 {
			break
		}
		i += lt
		name, attrs, end := scanTag(s, i)
		i = end
		switch name {
		case "base":
			if href, ok := attrs["href"]; ok {
				if u, err := pageURL.Parse(href); err == nil {
					base = u
				}
			}
		case "a":
			href, ok := attrs["href"]
			if !ok {
				continue
			}
			text := ""
			if close := strings.Index(lower[i:], "</a"); close >= 0 {
				text = strings.TrimSpace(html.UnescapeString(s[i : i+close]))
				i += close
			}
			u, err := base.Parse(href)
			if err != nil {
				continue
			}
			f := indexFile{URL: u, Size: -1, SHA256: hashFromFragment(u)}
			u.Fragment, u.RawFragment = "", ""
			f.Filename = text
			if f.Filename == "" {
				f.Filename, _ = url.PathUnescape(path.Base(u.Path))
			}
			f.RequiresPython = attrs["data-requires-python"]
			if reason, ok := attrs["data-yanked"]; ok {
				f.Yanked, f.YankedReason = true, reason
			}
			files = append(files, f)
		}
	}
	return files
}

// scanTag reads the tag at s[i] ('<'): its lower-case name, its attributes
// (values unescaped) and the index after its '>'. Comments, closing tags and
// declarations come back with an empty name.
func scanTag(s string, i int) (string, map[string]string, int) {
	if strings.HasPrefix(s[i:], "<!--") {
		if end := strings.Index(s[i+4:], "-->"); end >= 0 {
			return "", nil, i + 4 + end + 3
		}
		return "", nil, len(s)
	}
	j := i + 1
	for j < len(s) && isNameByte(s[j]) {
		j++
	}
	name := strings.ToLower(s[i+1 : j])
	attrs := map[string]string{}
	for j < len(s) {
		for j < len(s) && isSpace(s[j]) {
			j++
		}
		if j >= len(s) {
			break
		}
		if s[j] == '>' {
			return name, attrs, j + 1
		}
		if s[j] == '/' {
			j++
			continue
		}
		k := j
		for j < len(s) && !isSpace(s[j]) && s[j] != '=' && s[j] != '>' && s[j] != '/' {
			j++
		}
		key := strings.ToLower(s[k:j])
		if key == "" {
			j++
			continue
		}
		for j < len(s) && isSpace(s[j]) {
			j++
		}
		if j >= len(s) || s[j] != '=' {
			attrs[key] = ""
			continue
		}
		j++
		for j < len(s) && isSpace(s[j]) {
			j++
		}
		var val string
		if j < len(s) && (s[j] == '"' || s[j] == '\'') {
			q := s[j]
			end := strings.IndexByte(s[j+1:], q)
			if end < 0 {
				return name, attrs, len(s)
			}
			val = s[j+1 : j+1+end]
			j += end + 2
		} else {
			k := j
			for j < len(s) && !isSpace(s[j]) && s[j] != '>' {
				j++
			}
			val = s[k:j]
		}
		attrs[key] = html.UnescapeString(val)
	}
	return name, attrs, len(s)
}

func isNameByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '!' || b == '/' || b == '-'
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\f' }

// asciiLower lower-cases ASCII letters only, so byte offsets stay valid.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
