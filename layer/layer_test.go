package layer

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDefaultGlibc(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ python, arch, want string }{
		{"3.8", "x86_64", "2.26"},
		{"3.11", "arm64", "2.26"},
		{"3.12", "x86_64", "2.34"},
		{"3.13", "arm64", "2.34"},
		{"3.14", "x86_64", "2.34"},
		{"3.7", "x86_64", ""},
		{"python3.11", "x86_64", ""},
	} {
		assert.Equal(t, tt.want, DefaultGlibc(tt.python, tt.arch), "%s %s", tt.python, tt.arch)
	}
}

func TestDefaultRequirementsParse(t *testing.T) {
	t.Parallel()
	reqs, err := ParseRequirements(DefaultRequirementsText)
	require.NoError(t, err)
	assert.Equal(t, DefaultRequirements(), reqs)
}

func TestValidate(t *testing.T) {
	t.Parallel()
	pins := DefaultRequirements()
	dir := t.TempDir()
	tests := []struct {
		name string
		o    Options
		want []string // the lines of the joined error; none = valid
	}{
		{name: "defaults", o: Options{Requirements: pins}},
		{name: "everything set", o: Options{Requirements: pins, PythonVersion: "3.12", Architecture: "arm64", Glibc: "2.34", Output: dir + "/out/layer.zip", IndexURL: "https://user:pw@mirror.example.com/simple"}},
		{name: "token to a local http mirror", o: Options{Requirements: pins, IndexURL: "http://127.0.0.1:8080/simple/", IndexToken: "t"}},
		{name: "everything wrong", o: Options{PythonVersion: "3.11.7", Architecture: "aarch64", Glibc: "2.x", Output: dir, IndexURL: "ftp://mirror/simple/"}, want: []string{
			"requirements: no packages to install; pin at least one, e.g. psycopg2-binary==2.9.10",
			`python-version "3.11.7" is invalid; valid versions are 3.8, 3.9, 3.10, 3.11, 3.12, 3.13, 3.14 (major.minor of a Lambda runtime)`,
			`architecture "aarch64" is invalid; valid values are x86_64, arm64 (use "arm64", Lambda's name)`,
			`glibc "2.x" is invalid; write major.minor from 2.5 up, e.g. 2.26 (Amazon Linux 2) or 2.34 (Amazon Linux 2023), or leave it empty for the runtime's`,
			`output "` + dir + `" is a directory; name the zip file, e.g. ` + dir + `/psycopg2-layer.zip`,
			`index-url "ftp://mirror/simple/" is invalid; give the simple API root over https, e.g. https://pypi.org/simple/`,
		}},
		{name: "python too old, glibc too old", o: Options{Requirements: pins, PythonVersion: "3.7", Glibc: "2.4"}, want: []string{
			`python-version "3.7" is invalid; valid versions are 3.8, 3.9, 3.10, 3.11, 3.12, 3.13, 3.14 (major.minor of a Lambda runtime)`,
			`glibc "2.4" is invalid; write major.minor from 2.5 up, e.g. 2.26 (Amazon Linux 2) or 2.34 (Amazon Linux 2023), or leave it empty for the runtime's`,
		}},
		{name: "unknown python leaves glibc to its own error", o: Options{Requirements: pins, PythonVersion: "4.0", Architecture: "amd64"}, want: []string{
			`python-version "4.0" is invalid; valid versions are 3.8, 3.9, 3.10, 3.11, 3.12, 3.13, 3.14 (major.minor of a Lambda runtime)`,
			`architecture "amd64" is invalid; valid values are x86_64, arm64 (use "x86_64", Lambda's name)`,
			`glibc "" is invalid; write major.minor from 2.5 up, e.g. 2.26 (Amazon Linux 2) or 2.34 (Amazon Linux 2023), or leave it empty for the runtime's`,
		}},
		{name: "output ends in a slash", o: Options{Requirements: pins, Output: "dist/"}, want: []string{
			`output "dist/" is a directory; name the zip file, e.g. dist/psycopg2-layer.zip`,
		}},
		{name: "credentials twice", o: Options{Requirements: pins, IndexURL: "https://u:secret-pw@mirror.example.com/simple/", IndexToken: "tok"}, want: []string{
			`index-url "https://***@mirror.example.com/simple/" carries credentials and index-token is set too; use one of them`,
		}},
		{name: "credentials over plain http", o: Options{Requirements: pins, IndexURL: "http://mirror.example.com/simple/", IndexToken: "tok"}, want: []string{
			`index-url "http://mirror.example.com/simple/" is plain http but credentials would be sent to it; use https`,
		}},
		{name: "query in the index URL", o: Options{Requirements: pins, IndexURL: "https://mirror.example.com/simple/?token=x"}, want: []string{
			`index-url "https://mirror.example.com/simple/?token=x" must not carry a query or fragment; give the simple API root, e.g. https://pypi.org/simple/`,
		}},
		{name: "token as user name over plain http", o: Options{Requirements: pins, IndexURL: "http://ghp_0123456789@mirror.example.com/simple/"}, want: []string{
			`index-url "http://***@mirror.example.com/simple/" is plain http but credentials would be sent to it; use https`,
		}},
		{name: "unparseable index URL with a password", o: Options{Requirements: pins, IndexURL: "https://u:pa ss@%zz/simple/"}, want: []string{
			`index-url "https://***@%zz/simple/" is invalid; give the simple API root over https, e.g. https://pypi.org/simple/`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.o.Validate()
			if len(tt.want) == 0 {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.want, strings.Split(err.Error(), "\n"))
		})
	}
}
