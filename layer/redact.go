package layer

import (
	"net/url"
	"regexp"
	"strings"
)

// userinfoRE finds the credentials part of any URL in a message.
var userinfoRE = regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s"'<>]+@`)

// redactor hides the index credentials in messages: the userinfo of any URL
// and the literal password and token, plain and URL-escaped.
type redactor struct {
	secrets []string
}

func newRedactor(indexURL, token string) redactor {
	var r redactor
	add := func(s string) {
		if len(s) < 4 { // short secrets only ever appear inside URLs, handled by userinfoRE
			return
		}
		for _, v := range []string{s, url.QueryEscape(s), url.PathEscape(s)} {
			r.secrets = append(r.secrets, v)
		}
	}
	add(token)
	if u, err := url.Parse(indexURL); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			add(p)
		} else {
			add(u.User.Username()) // a token given as the user name
		}
	}
	return r
}

func (r redactor) String(s string) string {
	s = userinfoRE.ReplaceAllString(s, "${1}***@")
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, "***")
	}
	return s
}

// redactedError shows its cause's message with the credentials hidden and
// keeps the cause for errors.Is and errors.As.
type redactedError struct {
	err error
	r   redactor
}

func (e *redactedError) Error() string { return e.r.String(e.err.Error()) }
func (e *redactedError) Unwrap() error { return e.err }

func (r redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	return &redactedError{err: err, r: r}
}

// redactURLString hides the userinfo of one URL, even one that does not
// parse: everything between "://" and the last "@" before the path.
func redactURLString(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return userinfoRE.ReplaceAllString(s, "${1}***@")
	}
	rest := s[i+3:]
	authority := rest
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		authority = rest[:j]
	}
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return s
	}
	return s[:i+3] + "***" + rest[at:]
}

// redactURL shows a URL with its userinfo, user name included (it may be a
// token), replaced by ***.
func redactURL(u *url.URL) string {
	if u.User == nil {
		return u.String()
	}
	c := *u
	c.User = nil
	return strings.Replace(c.String(), "://", "://***@", 1)
}

// displayURL is a URL fit for a message: no userinfo, query or fragment,
// which may carry credentials or signatures.
func displayURL(u *url.URL) string {
	c := *u
	c.User = nil
	c.RawQuery = ""
	c.ForceQuery = false
	c.Fragment = ""
	c.RawFragment = ""
	return c.String()
}
