package lockcheck

// Fuzz targets for everything lock content reaches. Hostile input comes
// from whoever can write the lock table or the state bucket. Seed corpora
// live in testdata/fuzz/<target>; scripts/reliability.sh runs each target
// for a bounded time, and plain `go test` runs the seeds.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/stretchr/testify/assert"
)

func FuzzParseLock(f *testing.F) {
	f.Add(`{"ID":"9161f8d3-91c8-c716-d20c-f2c95576c5e2","Operation":"OperationTypeApply","Info":"","Who":"runner@fv-az123-456","Version":"1.11.4","Created":"2025-10-03T14:47:06.994532Z","Path":"b/k"}`)
	f.Add(`{"ID":"test123","Who":"manual-test"}`)
	f.Add(`{"ID":1,"Created":true}`)
	f.Add(`{"ID":"x","Created":"2025-10-03T14:47:06.99453212345Z"}`)
	f.Add("\x00\xff{")
	f.Fuzz(func(t *testing.T, raw string) {
		l := ParseLock("bucket/key", raw, Location{Source: SourceDynamoDB, Table: "t"})
		if l.Raw != raw || len(l.Sources) != 1 || l.Sources[0].Raw != raw {
			t.Fatalf("the raw text must be kept exactly: it is the condition of a safe delete")
		}
		if l.ParseProblem == "" {
			if l.Info.ID == "" || l.Created.IsZero() {
				t.Fatalf("no parse problem reported, but ID %q / Created %v is missing", l.Info.ID, l.Created)
			}
			if l.Created.Location() != time.UTC {
				t.Fatalf("Created must be UTC")
			}
			// A clean parse round-trips through Terraform's JSON.
			b, err := json.Marshal(l.Info)
			if err != nil {
				t.Fatal(err)
			}
			again := ParseLock("bucket/key", string(b), Location{})
			if again.Info != l.Info || again.ParseProblem != "" {
				t.Fatalf("re-parse differs: %+v vs %+v (%s)", again.Info, l.Info, again.ParseProblem)
			}
		}
		if h := l.Host(); strings.Contains(l.Info.Who, "@") && strings.Contains(h, "@") {
			t.Fatalf("Host %q of Who %q still contains @", h, l.Info.Who)
		}
	})
}

func FuzzLockPaths(f *testing.F) {
	f.Add("mybucket", "app/terraform.tfstate", "", "dev")
	f.Add("mybucket", "app/terraform.tfstate", "env:", "default")
	f.Add("b", "../../etc/passwd", "x/y", "")
	f.Add("b", "/leading", "", "ws/with/slashes")
	f.Fuzz(func(t *testing.T, bucket, key, prefix, workspace string) {
		if bucket == "" || strings.Contains(bucket, "/") {
			return // bucket names cannot contain '/'
		}
		p := WorkspacePath(bucket, key, prefix, workspace)
		if !strings.HasPrefix(p, bucket+"/") || !strings.HasSuffix(p, key) {
			t.Fatalf("WorkspacePath(%q, %q, %q, %q) = %q: not <bucket>/.../<key>", bucket, key, prefix, workspace, p)
		}
		state := Lock{LockPath: p}.StatePath()
		if bucket+"/"+state != p {
			t.Fatalf("StatePath of %q is %q: the bucket is not split off exactly", p, state)
		}
		if workspace == "" || workspace == "default" {
			if state != key {
				t.Fatalf("default workspace state path %q, want the key %q", state, key)
			}
		} else if want := firstNonEmptyString(prefix, "env:") + "/" + workspace + "/" + key; state != want {
			t.Fatalf("workspace state path %q, want %q", state, want)
		}
		// A run record's key never collides with a lock's.
		if IsReservedKey(p) {
			t.Fatalf("lock path %q looks like a run record key", p)
		}
	})
}

func firstNonEmptyString(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// memS3 serves one object for S3Store.
type memS3 struct {
	key  string
	body []byte
}

func (m *memS3) ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	return &s3.ListObjectsV2Output{Contents: []s3types.Object{{Key: aws.String(m.key)}, {Key: aws.String(m.key + ".digest")}}}, nil
}

func (m *memS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	if aws.ToString(in.Key) != m.key {
		return nil, &s3types.NoSuchKey{}
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(m.body)), ETag: aws.String(`"etag"`)}, nil
}

func (m *memS3) DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	panic("a snapshot never deletes")
}

func (m *memS3) HeadBucket(context.Context, *s3.HeadBucketInput, ...func(*s3.Options)) (*s3.HeadBucketOutput, error) {
	return &s3.HeadBucketOutput{}, nil
}

func FuzzTflockBody(f *testing.F) {
	f.Add("app/terraform.tfstate.tflock", []byte(`{"ID":"a","Operation":"OperationTypePlan","Info":"","Who":"u@h","Version":"1.11.0","Created":"2025-10-03T14:47:06Z","Path":"b/app/terraform.tfstate"}`))
	f.Add("env:/dev/x.tflock", []byte{0xef, 0xbb, 0xbf, '{', '}'})
	f.Add(".tflock", bytes.Repeat([]byte("A"), maxLockFileSize+10))
	f.Fuzz(func(t *testing.T, key string, body []byte) {
		if !strings.HasSuffix(key, LockFileSuffix) {
			key += LockFileSuffix
		}
		st := &S3Store{API: &memS3{key: key, body: body}, Bucket: "bkt"}
		snap, err := st.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.Locks) != 1 {
			t.Fatalf("%d locks from one .tflock object", len(snap.Locks))
		}
		l := snap.Locks[0]
		if l.LockPath != "bkt/"+strings.TrimSuffix(key, LockFileSuffix) {
			t.Fatalf("lock path %q for key %q", l.LockPath, key)
		}
		if st.keyOf(l.LockPath) != key {
			t.Fatalf("key %q does not map back from lock path %q (got %q): a removal would miss it", key, l.LockPath, st.keyOf(l.LockPath))
		}
		if len(l.Raw) > maxLockFileSize || !strings.HasPrefix(string(body), l.Raw) {
			t.Fatalf("raw body is not the (bounded) object content")
		}
		if l.Sources[0].ETag != `"etag"` {
			t.Fatalf("the ETag read is the condition of a safe removal; got %q", l.Sources[0].ETag)
		}
	})
}

// maxFuzzedLockIDs bounds the inputs FuzzParseLockIDs explores. Past it the
// fuzzer stalled: an input with 128 or more whitespace bytes in a row (or
// fields) reaches a new hit-count bucket of a loop in strings.TrimSpace or
// FieldsFunc, so Go's minimizer keeps every candidate at 128 bytes or more
// and then tries each subset of bytes to remove, about n*n/2 runs of the
// target (112,000 for a run of 440 tabs, 15 s on a loaded machine), under
// -fuzzminimizetime's 60 s default: longer than -fuzztime 20s, which then
// ends in "context deadline exceeded" or PASS by timing. The property does
// not depend on length; TestLockIDsLongInputs checks long inputs.
const maxFuzzedLockIDs = 96

func FuzzParseLockIDs(f *testing.F) {
	f.Add("9161f8d3-91c8-c716-d20c-f2c95576c5e2")
	f.Add("a, b,\n c\r\n,,a")
	f.Add(" \t , ")
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > maxFuzzedLockIDs {
			return
		}
		checkLockIDs(t, s)
	})
}

func TestLockIDsLongInputs(t *testing.T) {
	t.Parallel()
	var ids []string
	for i := range 1000 {
		ids = append(ids, fmt.Sprintf("9161f8d3-91c8-c716-d20c-%012d", i))
	}
	for _, s := range []string{
		strings.Repeat("\t", 440),
		strings.Repeat(" ", 300) + "a" + strings.Repeat("\u2005", 200) + ",b" + strings.Repeat(",", 500),
		strings.Join(ids, ",\n ") + "," + strings.Join(ids, "\r\n"),
	} {
		checkLockIDs(t, s)
	}
	assert.Equal(t, ids, ParseLockIDs(strings.Join(ids, " ,\t")))
}

// checkLockIDs checks ParseLockIDs's promises on one input: clean,
// distinct tokens taken from the input, that survive a round trip through
// LOCK_IDS.
func checkLockIDs(t *testing.T, s string) {
	t.Helper()
	ids := ParseLockIDs(s)
	seen := map[string]bool{}
	for _, id := range ids {
		if id == "" || strings.ContainsAny(id, ",\n\r") || strings.TrimSpace(id) != id {
			t.Fatalf("id %q is not a clean token", id)
		}
		if seen[id] {
			t.Fatalf("id %q repeated", id)
		}
		seen[id] = true
		if !strings.Contains(s, id) {
			t.Fatalf("id %q is not in the input", id)
		}
	}
	again := ParseLockIDs(strings.Join(ids, ","))
	if strings.Join(again, "\x00") != strings.Join(ids, "\x00") {
		t.Fatalf("ids do not survive a round trip through LOCK_IDS: %q -> %q", ids, again)
	}
}
