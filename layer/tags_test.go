package layer

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseWheelFilename(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fn      string
		want    wheelName
		wantErr string
	}{
		{fn: "psycopg2_binary-2.9.10-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", want: wheelName{
			Name: "psycopg2_binary", Version: "2.9.10", Pythons: []string{"cp311"}, ABIs: []string{"cp311"},
			Platforms: []string{"manylinux_2_17_x86_64", "manylinux2014_x86_64"},
		}},
		{fn: "six-1.16.0-py2.py3-none-any.whl", want: wheelName{
			Name: "six", Version: "1.16.0", Pythons: []string{"py2", "py3"}, ABIs: []string{"none"}, Platforms: []string{"any"},
		}},
		{fn: "pkg-1.0-1local-cp38-abi3-manylinux1_x86_64.whl", want: wheelName{
			Name: "pkg", Version: "1.0", Build: "1local", Pythons: []string{"cp38"}, ABIs: []string{"abi3"}, Platforms: []string{"manylinux1_x86_64"},
		}},
		{fn: "pkg-1.0.tar.gz", wantErr: `"pkg-1.0.tar.gz" is not a wheel`},
		{fn: "pkg-1.0-py3-any.whl", wantErr: "does not have the form"},
		{fn: "pkg-1.0-x1-py3-none-any.whl", wantErr: `build tag "x1" does not start with a digit`},
		{fn: "pkg-1.0--none-any.whl", wantErr: "empty name part"},
	}
	for _, tt := range tests {
		t.Run(tt.fn, func(t *testing.T) {
			t.Parallel()
			got, err := parseWheelFilename(tt.fn)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			tt.want.Filename = tt.fn
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestTargetPlatforms(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []string{
		"manylinux_2_26_x86_64", "manylinux_2_25_x86_64", "manylinux_2_24_x86_64", "manylinux_2_23_x86_64",
		"manylinux_2_22_x86_64", "manylinux_2_21_x86_64", "manylinux_2_20_x86_64", "manylinux_2_19_x86_64",
		"manylinux_2_18_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_16_x86_64",
		"manylinux_2_15_x86_64", "manylinux_2_14_x86_64", "manylinux_2_13_x86_64", "manylinux_2_12_x86_64",
		"manylinux2010_x86_64", "manylinux_2_11_x86_64", "manylinux_2_10_x86_64", "manylinux_2_9_x86_64",
		"manylinux_2_8_x86_64", "manylinux_2_7_x86_64", "manylinux_2_6_x86_64", "manylinux_2_5_x86_64",
		"manylinux1_x86_64",
	}, target{pythonMinor: 11, arch: "x86_64", glibcMinor: 26}.platforms())
	assert.Equal(t, []string{
		"manylinux_2_19_aarch64", "manylinux_2_18_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64",
	}, target{pythonMinor: 12, arch: "aarch64", glibcMinor: 19}.platforms())
}

// TestSupportedTagsMatchPackaging checks the tag order against the one pip
// itself uses (its vendored packaging.tags), for several targets: platform
// tags from _manylinux.platform_tags with the glibc version forced, then
// cpython_tags and compatible_tags over them.
func TestSupportedTagsMatchPackaging(t *testing.T) {
	t.Parallel()
	python, err := exec.LookPath("python3")
	require.NoError(t, err, "python3 (with pip) is needed to compare tags with packaging.tags")
	const script = `
import sys
from pip._vendor.packaging import _manylinux, tags
minor, arch, glibc = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
_manylinux._get_glibc_version = lambda: (2, glibc)
_manylinux._have_compatible_abi = lambda arch: True
plats = list(_manylinux.platform_tags("linux_" + arch, arch))
cp = "cp3%d" % minor
out = list(tags.cpython_tags((3, minor), [cp], plats)) + list(tags.compatible_tags((3, minor), cp, plats))
print("\n".join(str(t) for t in out))
`
	for _, tt := range []target{
		{pythonMinor: 11, arch: "x86_64", glibcMinor: 26},
		{pythonMinor: 12, arch: "aarch64", glibcMinor: 34},
		{pythonMinor: 8, arch: "x86_64", glibcMinor: 17},
		{pythonMinor: 13, arch: "aarch64", glibcMinor: 17},
	} {
		t.Run(tt.String(), func(t *testing.T) {
			t.Parallel()
			out, err := exec.Command(python, "-c", script, fmt.Sprint(tt.pythonMinor), tt.arch, fmt.Sprint(tt.glibcMinor)).CombinedOutput()
			require.NoError(t, err, "%s", out)
			want := strings.Split(strings.TrimSpace(string(out)), "\n")
			require.Greater(t, len(want), 50)
			assert.Equal(t, want, tt.supportedTags())
		})
	}
}

func TestSelectWheel(t *testing.T) {
	t.Parallel()
	x86_311 := target{pythonMinor: 11, arch: "x86_64", glibcMinor: 26}
	arm_312 := target{pythonMinor: 12, arch: "aarch64", glibcMinor: 34}
	tests := []struct {
		name   string
		t      target
		pin    string
		files  []string
		want   string // picked file
		reason string // or, when nothing fits, part of the error
	}{
		{
			name: "exact ABI over abi3 over none, whatever the glibc",
			t:    x86_311, pin: "pkg==1.0",
			files: []string{"pkg-1.0-py3-none-any.whl", "pkg-1.0-cp38-abi3-manylinux_2_26_x86_64.whl", "pkg-1.0-cp311-cp311-manylinux_2_5_x86_64.manylinux1_x86_64.whl", "pkg-1.0-cp311-none-manylinux_2_17_x86_64.whl"},
			want:  "pkg-1.0-cp311-cp311-manylinux_2_5_x86_64.manylinux1_x86_64.whl",
		},
		{
			name: "abi3 of an older CPython over a pure wheel",
			t:    x86_311, pin: "pkg==1.0",
			files: []string{"pkg-1.0-py3-none-any.whl", "pkg-1.0-cp37-abi3-manylinux2014_x86_64.whl"},
			want:  "pkg-1.0-cp37-abi3-manylinux2014_x86_64.whl",
		},
		{
			name: "the newest abi3 floor wins",
			t:    x86_311, pin: "pkg==1.0",
			files: []string{"pkg-1.0-cp36-abi3-manylinux2014_x86_64.whl", "pkg-1.0-cp39-abi3-manylinux2014_x86_64.whl"},
			want:  "pkg-1.0-cp39-abi3-manylinux2014_x86_64.whl",
		},
		{
			name: "highest compatible glibc, new and old spellings alike",
			t:    x86_311, pin: "pkg==1.0",
			files: []string{"pkg-1.0-cp311-cp311-manylinux2010_x86_64.whl", "pkg-1.0-cp311-cp311-manylinux_2_24_x86_64.whl", "pkg-1.0-cp311-cp311-manylinux_2_28_x86_64.whl", "pkg-1.0-cp311-cp311-manylinux2014_x86_64.whl"},
			want:  "pkg-1.0-cp311-cp311-manylinux_2_24_x86_64.whl",
		},
		{
			name: "compressed tag set with a python set",
			t:    x86_311, pin: "pkg==1.0",
			files: []string{"pkg-1.0-py2.py3-none-any.whl"},
			want:  "pkg-1.0-py2.py3-none-any.whl",
		},
		{
			name: "py3 on the platform over pure python",
			t:    x86_311, pin: "pkg==1.0",
			files: []string{"pkg-1.0-py3-none-any.whl", "pkg-1.0-py3-none-manylinux_2_17_x86_64.whl"},
			want:  "pkg-1.0-py3-none-manylinux_2_17_x86_64.whl",
		},
		{
			name: "higher build tag breaks ties",
			t:    x86_311, pin: "pkg==1.0",
			files: []string{"pkg-1.0-1-py3-none-any.whl", "pkg-1.0-12-py3-none-any.whl", "pkg-1.0-py3-none-any.whl", "pkg-1.0-2-py3-none-any.whl"},
			want:  "pkg-1.0-12-py3-none-any.whl",
		},
		{
			name: "versions compare as PEP 440",
			t:    x86_311, pin: "pkg==1.0",
			files: []string{"pkg-1.0.1-py3-none-any.whl", "pkg-1.0.0-py3-none-any.whl"},
			want:  "pkg-1.0.0-py3-none-any.whl",
		},
		{
			name: "name normalization in file names",
			t:    x86_311, pin: "Zope.Interface==6.0",
			files: []string{"zope.interface-6.0-cp311-cp311-manylinux_2_17_x86_64.whl", "other-6.0-py3-none-any.whl"},
			want:  "zope.interface-6.0-cp311-cp311-manylinux_2_17_x86_64.whl",
		},
		{
			name: "arm64 takes aarch64 wheels only",
			t:    arm_312, pin: "pkg==1.0",
			files: []string{"pkg-1.0-cp312-cp312-manylinux_2_28_x86_64.whl", "pkg-1.0-cp312-cp312-manylinux_2_28_aarch64.whl", "pkg-1.0-cp312-cp312-musllinux_1_2_aarch64.whl"},
			want:  "pkg-1.0-cp312-cp312-manylinux_2_28_aarch64.whl",
		},
		{
			name: "musllinux never, even as the only file",
			t:    arm_312, pin: "pkg==1.0",
			files:  []string{"pkg-1.0-cp312-cp312-musllinux_1_2_aarch64.whl"},
			reason: "pkg-1.0-cp312-cp312-musllinux_1_2_aarch64.whl: musllinux (Lambda runs glibc)",
		},
		{
			name: "plain linux wheels are not portable",
			t:    x86_311, pin: "pkg==1.0",
			files:  []string{"pkg-1.0-cp311-cp311-linux_x86_64.whl"},
			reason: "pkg-1.0-cp311-cp311-linux_x86_64.whl: plain linux wheel (not manylinux, built for one machine)",
		},
		{
			name: "cp3N ABI must match exactly",
			t:    x86_311, pin: "pkg==1.0",
			files:  []string{"pkg-1.0-cp312-cp312-manylinux2014_x86_64.whl", "pkg-1.0-cp310-cp310-manylinux2014_x86_64.whl"},
			reason: "pkg-1.0-cp310-cp310-manylinux2014_x86_64.whl: other Python or ABI (cp310-cp310)",
		},
		{
			name: "abi3 does not serve older CPythons",
			t:    x86_311, pin: "pkg==1.0",
			files:  []string{"pkg-1.0-cp312-abi3-manylinux2014_x86_64.whl"},
			reason: "other Python or ABI (cp312-abi3)",
		},
		{
			name: "glibc too new",
			t:    x86_311, pin: "pkg==1.0",
			files:  []string{"pkg-1.0-cp311-cp311-manylinux_2_28_x86_64.whl"},
			reason: "needs glibc 2.28, newer than the target's 2.26",
		},
		{
			name: "manylinux1 and 2010 do not exist for aarch64",
			t:    arm_312, pin: "pkg==1.0",
			files:  []string{"pkg-1.0-cp312-cp312-manylinux2010_aarch64.whl"},
			reason: "pkg-1.0-cp312-cp312-manylinux2010_aarch64.whl: other platform (manylinux2010_aarch64)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reqs, err := ParseRequirements(tt.pin)
			require.NoError(t, err)
			var files []indexFile
			for _, f := range tt.files {
				files = append(files, indexFile{Filename: f, Size: -1})
			}
			got, err := selectWheel(reqs[0], files, tt.t, newTagRanker(tt.t))
			if tt.reason != "" {
				require.Error(t, err)
				var nw *NoWheelError
				require.True(t, errors.As(err, &nw))
				assert.Contains(t, err.Error(), tt.reason)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got.file.Filename)
		})
	}
}

func TestSelectWheelSkipsRefusedFiles(t *testing.T) {
	t.Parallel()
	tg := target{pythonMinor: 11, arch: "x86_64", glibcMinor: 26}
	best := "pkg-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"
	second := "pkg-1.0-py3-none-any.whl"
	tests := []struct {
		name     string
		pin      string
		bestFile indexFile
		want     string
	}{
		{"yanked", "pkg==1.0", indexFile{Filename: best, Yanked: true}, second},
		{"requires-python excludes the target", "pkg==1.0", indexFile{Filename: best, RequiresPython: ">=3.12"}, second},
		{"requires-python allows the target", "pkg==1.0", indexFile{Filename: best, RequiresPython: ">=3.8, !=3.10.*, <4"}, best},
		{"index hash not pinned", "pkg==1.0 --hash=sha256:" + hashA, indexFile{Filename: best, SHA256: strings.Repeat("c", 64)}, second},
		{"index hash pinned", "pkg==1.0 --hash=sha256:" + hashA, indexFile{Filename: best, SHA256: hashA}, best},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reqs, err := ParseRequirements(tt.pin)
			require.NoError(t, err)
			got, err := selectWheel(reqs[0], []indexFile{tt.bestFile, {Filename: second}}, tg, newTagRanker(tg))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got.file.Filename)
		})
	}
}
