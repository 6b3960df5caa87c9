package notice

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWebhookPostsJSON(t *testing.T) {
	t.Parallel()
	var got map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		raw, _ := io.ReadAll(r.Body)
		assert.NoError(t, json.Unmarshal(raw, &got))
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	require.NoError(t, Webhook{URL: srv.URL + "/services/T000/B000/secret"}.Post(context.Background(), map[string]string{"text": "hi"}))
	assert.Equal(t, map[string]any{"text": "hi"}, got)
}

// No error names the URL: it is the credential.
func TestWebhookErrorsNeverShowTheURL(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "invalid_token", http.StatusForbidden)
	}))
	t.Cleanup(srv.Close)
	secret := srv.URL + "/services/T000/B000/XXXXsecret"
	err := Webhook{URL: secret}.Post(context.Background(), map[string]string{"text": "hi"})
	require.Error(t, err)
	assert.Equal(t, "post to notify-webhook: the server answered 403 Forbidden", err.Error())

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "http://" + ln.Addr().String() + "/services/T000/B000/XXXXsecret"
	require.NoError(t, ln.Close())
	err = Webhook{URL: closed}.Post(context.Background(), map[string]string{"text": "hi"})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "XXXXsecret")
	assert.NotContains(t, err.Error(), closed)
	assert.Contains(t, err.Error(), "post to notify-webhook:")
}
