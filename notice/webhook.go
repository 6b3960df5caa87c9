package notice

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Webhook posts JSON messages to a Slack-compatible incoming webhook. The
// URL is a secret (it is the credential): no error it returns contains it.
type Webhook struct {
	URL    string
	Client *http.Client
}

// Post sends msg (marshalled to JSON) and checks for a 2xx answer.
func (w Webhook) Post(ctx context.Context, msg any) error {
	body, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encode the webhook message: %w", err)
	}
	hc := w.Client
	if hc == nil {
		hc = &http.Client{Timeout: 20 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return errors.New("notify-webhook is not a usable URL")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		// *url.Error's text names the URL: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("post to notify-webhook: %s", redact(err.Error(), w.URL))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("post to notify-webhook: the server answered %s", resp.Status)
	}
	return nil
}

// redact removes the URL, and its path (the secret part), from text.
func redact(text, secret string) string {
	if secret == "" {
		return text
	}
	text = string(bytes.ReplaceAll([]byte(text), []byte(secret), []byte("(webhook URL)")))
	if u, err := url.Parse(secret); err == nil && len(u.Path) > 1 {
		text = string(bytes.ReplaceAll([]byte(text), []byte(u.Path), []byte("(webhook path)")))
	}
	return text
}
