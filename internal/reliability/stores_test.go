package reliability

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// storeDoubles counts two holders only when the store let the second in
// while the first still held the lock, nothing else.
func TestStoreDoublesCountsOnlyOverlappingHolders(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	held := func(id, method string, put, got, release, removed int) *heldLock {
		h := &heldLock{id: id, path: "b/app/terraform.tfstate", method: method, putStart: at(put), acquired: at(got)}
		if release > 0 {
			h.releaseStart = at(release)
		}
		if removed > 0 {
			h.removedAt = at(removed)
		}
		return h
	}
	cases := []struct {
		name  string
		locks []*heldLock
		want  map[string]int
	}{
		{"one after the other", []*heldLock{held("a", "dynamodb", 0, 10, 100, 0), held("b", "dynamodb", 90, 120, 200, 0)}, nil},
		{"second won while the first held it", []*heldLock{held("a", "dynamodb", 0, 10, 100, 0), held("b", "dynamodb", 20, 30, 200, 0)},
			map[string]int{"dynamodb: moto": 1}},
		{"both stores let it in", []*heldLock{held("a", "both", 0, 10, 0, 0), held("b", "both", 20, 30, 200, 0)},
			map[string]int{"dynamodb: moto": 1, "s3: front": 1}},
		{"the product removed a dead holder's lock first", []*heldLock{held("a", "s3", 0, 10, 0, 50), held("b", "s3", 40, 60, 200, 0)}, nil},
		{"won before the product's removal began", []*heldLock{held("a", "s3", 0, 10, 0, 50), held("b", "s3", 20, 30, 200, 0)},
			map[string]int{"s3: front": 1}},
		{"asked before the first had won", []*heldLock{held("a", "dynamodb", 0, 10, 100, 0), held("b", "dynamodb", 5, 30, 200, 0)}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := &world{cfg: &RaceConfig{DynamoDBStore: "moto", S3Store: "front"}, locks: map[string]*heldLock{}}
			for _, h := range c.locks {
				w.locks[h.id] = h
			}
			w.storeDoubles()
			w.storeDoubles() // counted once, however often checked
			assert.Equal(t, c.want, w.report.StoreDoubles)
		})
	}
}
