package layer

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestVersionMatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pin, file string
		want      bool
	}{
		{"2.9.10", "2.9.10", true},
		{"1.0", "1.0.0", true},
		{"1.0.0", "1", true},
		{"1.0", "1.0.1", false},
		{"1.0rc1", "1.0RC1", true},
		{"1.0c1", "1.0rc1", true},
		{"1.0alpha2", "1.0a2", true},
		{"1.0-1", "1.0.post1", true},
		{"1.0.dev0", "1.0dev", true},
		{"1.0", "1.0+cpu", true},
		{"1.0+cpu", "1.0", false},
		{"1.0+cpu", "1.0+CPU", true},
		{"1!1.0", "1.0", false},
		{"v1.0", "1.0", true},
		{"1.0", "1.0.post1", false},
		{"1.0", "1.0rc1", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, versionMatches(Requirement{Version: tt.pin}, tt.file), "%s == %s", tt.pin, tt.file)
	}
	assert.True(t, versionMatches(Requirement{Version: "1.0-Custom", Arbitrary: true}, "1.0-custom"))
	assert.False(t, versionMatches(Requirement{Version: "1.0", Arbitrary: true}, "1.0.0"), "=== compares text")
}

func TestRequiresPythonOK(t *testing.T) {
	t.Parallel()
	tests := []struct {
		spec  string
		minor int
		want  bool
	}{
		{">=3.7", 11, true},
		{">=3.12", 11, false},
		{">=3.8, <4", 13, true},
		{">=3.6,<3.11", 11, false},
		{"<=3.11", 11, true},
		{">3.11", 11, false},
		{">3.10", 11, true},
		{">=3.11.1", 11, false}, // as pip: the target is 3.11(.0)
		{"!=3.11.*", 11, false},
		{"!=3.10.*", 11, true},
		{"==3.*", 12, true},
		{"==3.11", 11, true},
		{"~=3.8", 14, true},
		{"~=3.8.1", 9, false},
		{">=3.11.0rc1", 11, true},
		{">=3.11.post1", 11, false},
		{"===3.11", 11, true},
		{"not a specifier", 11, true}, // ignored, as pip ignores it
		{">=3.7, garbage", 11, true},
		{"", 11, true},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, requiresPythonOK(tt.spec, tt.minor), "%q for 3.%d", tt.spec, tt.minor)
	}
}
