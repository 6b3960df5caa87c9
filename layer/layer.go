// Package layer owns the build-layer mode: it reads exact requirement pins,
// asks a Python package index (PEP 691 JSON, or PEP 503 HTML) for each pin's
// files, picks the wheel that fits an AWS Lambda Python runtime (CPython
// version, ABI, manylinux glibc, architecture), downloads and verifies it, and
// writes a byte-for-byte reproducible layer zip with a top-level python/
// folder. It never builds source distributions, never resolves dependencies
// and never imports the Actions toolkit: it returns a Result.
package layer

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Defaults of the build-layer inputs.
const (
	// DefaultPsycopg2Version is the psycopg2-binary release the default
	// requirements pin. 2.9.10 publishes CPython 3.8-3.13 wheels tagged
	// manylinux_2_17 (manylinux2014) for both x86_64 and aarch64, so the
	// default layer loads on every Lambda Python runtime up to python3.13 on
	// either architecture, Amazon Linux 2 (glibc 2.26) included.
	DefaultPsycopg2Version = "2.9.10"
	// DefaultRequirementsText is the requirements input's default.
	DefaultRequirementsText = "psycopg2-binary==" + DefaultPsycopg2Version
	DefaultPythonVersion    = "3.11"
	DefaultArchitecture     = "x86_64"
	DefaultOutput           = "psycopg2-layer.zip"
	// DefaultIndexURL is the public Python package index's simple API.
	DefaultIndexURL = "https://pypi.org/simple/"
)

// Lambda's limits, in bytes (AWS counts MB as MiB).
const (
	// MaxUnzippedSize is the most a function and all its layers may take
	// unzipped; a layer past it can never be attached.
	MaxUnzippedSize = 250 << 20
	// DirectUploadSize is the most a zip may weigh for a direct upload;
	// bigger layers must go through S3, which is worth a warning.
	DirectUploadSize = 50 << 20
)

// Architectures are the values the architecture input accepts, with the
// wheel platform suffix each one needs.
var architectures = map[string]string{
	"x86_64": "x86_64",
	"arm64":  "aarch64",
}

// minPythonMinor and maxPythonMinor bound the python-version input: the
// CPython 3 versions Lambda has offered a runtime for, 3.8 to 3.14.
const (
	minPythonMinor = 8
	maxPythonMinor = 14
)

// DefaultRequirements returns the default pins: psycopg2-binary at
// DefaultPsycopg2Version.
func DefaultRequirements() []Requirement {
	return []Requirement{{Name: "psycopg2-binary", Version: DefaultPsycopg2Version, Line: 1}}
}

// DefaultGlibc returns the glibc version of the Lambda runtime for a Python
// version: python3.8 to python3.11 run on Amazon Linux 2 (glibc 2.26),
// python3.12 and later on Amazon Linux 2023 (glibc 2.34). The architecture
// does not change it. An unknown Python version gets "".
func DefaultGlibc(python, arch string) string {
	_ = arch // both architectures share the runtime's glibc
	minor, ok := pythonMinor(python)
	switch {
	case !ok:
		return ""
	case minor <= 11:
		return "2.26"
	default:
		return "2.34"
	}
}

// Options says what to build and where from. Empty PythonVersion,
// Architecture, Glibc, Output and IndexURL take their defaults.
type Options struct {
	Requirements  []Requirement
	PythonVersion string // "3.11"
	Architecture  string // "x86_64" or "arm64"
	Glibc         string // "2.26"; "" = the runtime's (DefaultGlibc)
	Output        string // the zip to write
	// IndexURL is the simple API root. Userinfo in it is sent as HTTP Basic
	// authentication, and only to the index's own host.
	IndexURL string
	// IndexToken, when set, is sent as "Authorization: Bearer <token>", and
	// only to the index's own host.
	IndexToken string
	Progress   io.Writer    // progress lines; nil = discard
	HTTPClient *http.Client // nil = a client with sensible timeouts
	// Now drives progress throttling only; zip entry times are fixed.
	Now func() time.Time

	// retryDelay is the wait before the first retry of a failed request; 0
	// means one second. Tests shorten it, and lower the size limits.
	retryDelay        time.Duration
	unzippedLimit     int64 // 0 = MaxUnzippedSize
	directUploadLimit int64 // 0 = DirectUploadSize
}

// Result is what Build produced.
type Result struct {
	Path         string // the zip written
	SHA256Base64 string // base64 of the zip's SHA-256: Terraform's filebase64sha256
	Size         int64  // zip size in bytes
	UnzippedSize int64  // sum of the files' uncompressed sizes
	Files        int    // number of files in the zip (directories left out)
	// Target the wheels were chosen for.
	PythonVersion string
	Architecture  string
	Glibc         string
	Packages      []Package // in requirements order
	Warnings      []string
}

// Package is one installed wheel.
type Package struct {
	Name     string // as pinned in the requirements
	Version  string
	Filename string // the wheel's file name (never its URL: it may carry secrets)
	Size     int64  // wheel size in bytes
	SHA256   string // wheel SHA-256, hex
	Tag      string // the wheel tag that matched the target, e.g. cp311-cp311-manylinux_2_17_x86_64
}

// withDefaults fills empty fields with their defaults.
func (o Options) withDefaults() Options {
	if o.PythonVersion == "" {
		o.PythonVersion = DefaultPythonVersion
	}
	if o.Architecture == "" {
		o.Architecture = DefaultArchitecture
	}
	if o.Glibc == "" {
		o.Glibc = DefaultGlibc(o.PythonVersion, o.Architecture)
	}
	if o.Output == "" {
		o.Output = DefaultOutput
	}
	if o.IndexURL == "" {
		o.IndexURL = DefaultIndexURL
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.retryDelay == 0 {
		o.retryDelay = time.Second
	}
	if o.unzippedLimit == 0 {
		o.unzippedLimit = MaxUnzippedSize
	}
	if o.directUploadLimit == 0 {
		o.directUploadLimit = DirectUploadSize
	}
	return o
}

var (
	pythonVersionRE = regexp.MustCompile(`^3\.(\d{1,2})$`)
	glibcRE         = regexp.MustCompile(`^2\.(\d{1,2})$`)
)

func pythonMinor(v string) (int, bool) {
	m := pythonVersionRE.FindStringSubmatch(v)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n < minPythonMinor || n > maxPythonMinor {
		return 0, false
	}
	return n, true
}

func glibcMinor(v string) (int, bool) {
	m := glibcRE.FindStringSubmatch(v)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n < 5 {
		return 0, false
	}
	return n, true
}

func validPythonVersions() string {
	var vs []string
	for m := minPythonMinor; m <= maxPythonMinor; m++ {
		vs = append(vs, fmt.Sprintf("3.%d", m))
	}
	return strings.Join(vs, ", ")
}

// Validate checks every option and reports every problem together, naming
// the input, the bad value and the valid ones. Empty fields are checked as
// their defaults.
func (o Options) Validate() error {
	o = o.withDefaults()
	var errs []error
	if len(o.Requirements) == 0 {
		errs = append(errs, errors.New(`requirements: no packages to install; pin at least one, e.g. `+DefaultRequirementsText))
	}
	if _, ok := pythonMinor(o.PythonVersion); !ok {
		errs = append(errs, fmt.Errorf("python-version %q is invalid; valid versions are %s (major.minor of a Lambda runtime)", o.PythonVersion, validPythonVersions()))
	}
	if _, ok := architectures[o.Architecture]; !ok {
		hint := ""
		switch strings.ToLower(o.Architecture) {
		case "aarch64", "arm64":
			hint = ` (use "arm64", Lambda's name)`
		case "amd64", "x86-64", "x64", "x86_64":
			hint = ` (use "x86_64", Lambda's name)`
		}
		errs = append(errs, fmt.Errorf("architecture %q is invalid; valid values are x86_64, arm64%s", o.Architecture, hint))
	}
	if _, ok := glibcMinor(o.Glibc); !ok {
		errs = append(errs, fmt.Errorf("glibc %q is invalid; write major.minor from 2.5 up, e.g. 2.26 (Amazon Linux 2) or 2.34 (Amazon Linux 2023), or leave it empty for the runtime's", o.Glibc))
	}
	if err := validateOutput(o.Output); err != nil {
		errs = append(errs, err)
	}
	if err := validateIndex(o.IndexURL, o.IndexToken); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func validateOutput(out string) error {
	if strings.HasSuffix(out, "/") || strings.HasSuffix(out, string(filepath.Separator)) {
		return fmt.Errorf("output %q is a directory; name the zip file, e.g. %s", out, filepath.Join(out, DefaultOutput))
	}
	if fi, err := os.Stat(out); err == nil && fi.IsDir() {
		return fmt.Errorf("output %q is a directory; name the zip file, e.g. %s", out, filepath.Join(out, DefaultOutput))
	}
	return nil
}

func validateIndex(raw, token string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("index-url %q is invalid; give the simple API root over https, e.g. %s", redactURLString(raw), DefaultIndexURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("index-url %q must not carry a query or fragment; give the simple API root, e.g. %s", redactURL(u), DefaultIndexURL)
	}
	hasUser := u.User != nil
	if hasUser && token != "" {
		return fmt.Errorf("index-url %q carries credentials and index-token is set too; use one of them", redactURL(u))
	}
	if (hasUser || token != "") && u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return fmt.Errorf("index-url %q is plain http but credentials would be sent to it; use https", redactURL(u))
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
