package notice

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/text2agent/tfstate-guard/internal/fakegithub"
)

const marker = "<!-- tfstate-guard:pr-notice:abc -->"

func newFake(t *testing.T) (*fakegithub.API, *PRComments) {
	t.Helper()
	fake := fakegithub.New()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	pc, err := NewPRComments(srv.URL, "tok", nil)
	require.NoError(t, err)
	return fake, pc
}

func body(s string) func(string) string { return func(string) string { return marker + "\n" + s } }

func TestPostCreatesThenUpdatesOneComment(t *testing.T) {
	t.Parallel()
	fake, pc := newFake(t)
	ctx := context.Background()
	fake.AddComment("octo/infra", 7, "alice", "LGTM") // a person's comment is left alone

	res, err := pc.Post(ctx, "octo/infra", 7, marker, body("first"))
	require.NoError(t, err)
	assert.Equal(t, Created, res.Outcome)
	assert.Contains(t, res.URL, "https://github.com/octo/infra/pull/7#issuecomment-")

	var seen string
	res, err = pc.Post(ctx, "octo/infra", 7, marker, func(prev string) string { seen = prev; return marker + "\nsecond" })
	require.NoError(t, err)
	assert.Equal(t, Updated, res.Outcome)
	assert.Equal(t, marker+"\nfirst", seen, "build sees the comment it replaces")

	res, err = pc.Post(ctx, "octo/infra", 7, marker, body("second"))
	require.NoError(t, err)
	assert.Equal(t, Unchanged, res.Outcome, "the same body is not written again")

	for i := 0; i < 5; i++ {
		_, err = pc.Post(ctx, "octo/infra", 7, marker, body(fmt.Sprintf("round %d", i)))
		require.NoError(t, err)
	}
	cs := fake.Comments("octo/infra", 7)
	require.Len(t, cs, 2, "the person's comment and one notice")
	assert.Equal(t, "LGTM", cs[0].Body)
	assert.Equal(t, marker+"\nround 4", cs[1].Body)

	res, err = pc.Post(ctx, "octo/infra", 8, marker, func(string) string { return "" })
	require.NoError(t, err)
	assert.Equal(t, Nothing, res.Outcome, "nothing to say on a pull request without a notice: nothing written")
	assert.Empty(t, fake.Comments("octo/infra", 8))
}

// The notice is found on a later page (GitHub lists 100 at most per page,
// oldest first), not created again.
func TestPostFindsTheCommentPastTheFirstPage(t *testing.T) {
	t.Parallel()
	fake, pc := newFake(t)
	for i := 0; i < 150; i++ {
		fake.AddComment("octo/infra", 7, "bob", fmt.Sprintf("comment %d", i))
	}
	id := fake.AddComment("octo/infra", 7, "github-actions[bot]", marker+"\nold")
	fake.AddComment("octo/infra", 7, "bob", "after")
	res, err := pc.Post(context.Background(), "octo/infra", 7, marker, body("new"))
	require.NoError(t, err)
	assert.Equal(t, Updated, res.Outcome)
	cs := fake.Comments("octo/infra", 7)
	assert.Len(t, cs, 152)
	for _, c := range cs {
		if c.ID == id {
			assert.Equal(t, marker+"\nnew", c.Body)
		}
	}
}

func TestPostWithoutPermissionIsErrNoPermission(t *testing.T) {
	t.Parallel()
	fake, pc := newFake(t)
	fake.NoIssuesWrite = true
	_, err := pc.Post(context.Background(), "octo/infra", 7, marker, body("x"))
	require.ErrorIs(t, err, ErrNoPermission)
	assert.Contains(t, err.Error(), "Resource not accessible by integration")
	assert.Empty(t, fake.Comments("octo/infra", 7))
}

// Two detects racing on one pull request: both find no comment and both
// create one; each lists again, and the newer comment is deleted.
func TestRacingPostsLeaveOneComment(t *testing.T) {
	t.Parallel()
	fake, pc := newFake(t)
	var arrived sync.WaitGroup
	arrived.Add(2)
	fake.BeforeCommentCreate = func() { arrived.Done(); arrived.Wait() } // both have listed before either creates
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = pc.Post(context.Background(), "octo/infra", 7, marker, body(fmt.Sprintf("from run %d", i)))
		}()
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	cs := fake.Comments("octo/infra", 7)
	require.Len(t, cs, 1, "one comment after the race: %+v", cs)
	assert.GreaterOrEqual(t, fake.CommentWrites(), 3, "both runs created a comment, and one was deleted")
	assert.True(t, strings.HasPrefix(cs[0].Body, marker+"\nfrom run "))
}

// A duplicate written by someone else (quoting the marker) is not deleted.
func TestPostDeletesOnlyItsOwnDuplicates(t *testing.T) {
	t.Parallel()
	fake, pc := newFake(t)
	fake.AddComment("octo/infra", 7, "github-actions[bot]", marker+"\nours")
	fake.AddComment("octo/infra", 7, "github-actions[bot]", marker+"\na leftover duplicate")
	fake.AddComment("octo/infra", 7, "mallory", marker+"\nnot ours")
	res, err := pc.Post(context.Background(), "octo/infra", 7, marker, body("now"))
	require.NoError(t, err)
	assert.Equal(t, 1, res.Removed)
	var bodies []string
	for _, c := range fake.Comments("octo/infra", 7) {
		bodies = append(bodies, c.Body)
	}
	assert.Equal(t, []string{marker + "\nnow", marker + "\nnot ours"}, bodies)
}
