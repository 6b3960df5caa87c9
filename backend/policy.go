package backend

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// TLSStatementSid is the Sid of the statement setup adds to the bucket policy.
const TLSStatementSid = "TfstateGuardDenyInsecureTransport"

// tlsStatement is the canonical deny-non-TLS statement for bucket.
func tlsStatement(bucket string) map[string]any {
	arn := "arn:aws:s3:::" + bucket
	return map[string]any{
		"Sid":       TLSStatementSid,
		"Effect":    "Deny",
		"Principal": "*",
		"Action":    "s3:*",
		"Resource":  []string{arn, arn + "/*"},
		"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
	}
}

// mergeTLSPolicy returns the bucket policy with a deny-non-TLS statement.
// Every other statement and top-level field is kept exactly as it was
// (json.RawMessage re-encodes them verbatim, only whitespace is compacted).
// changed is false when an equivalent statement already exists, whatever
// its Sid. A statement carrying our Sid that is no longer equivalent is
// replaced, because Sids must be unique within a policy.
func mergeTLSPolicy(existing, bucket string) (policy string, changed bool, err error) {
	doc := map[string]json.RawMessage{}
	var stmts []json.RawMessage
	if strings.TrimSpace(existing) != "" {
		if err := json.Unmarshal([]byte(existing), &doc); err != nil {
			return "", false, fmt.Errorf("bucket policy of %q is not a JSON object: %w", bucket, err)
		}
		if raw, ok := doc["Statement"]; ok {
			raw = bytes.TrimSpace(raw)
			if len(raw) > 0 && raw[0] == '{' {
				stmts = []json.RawMessage{raw} // a single statement may be an object
			} else if err := json.Unmarshal(raw, &stmts); err != nil {
				return "", false, fmt.Errorf("statements of the bucket policy of %q are not a JSON list: %w", bucket, err)
			}
		}
	}
	ours := -1
	for i, raw := range stmts {
		var st map[string]any
		if err := json.Unmarshal(raw, &st); err != nil {
			return "", false, fmt.Errorf("statement %d of the bucket policy of %q is not a JSON object: %w", i+1, bucket, err)
		}
		if isTLSDeny(st, bucket) {
			return existing, false, nil
		}
		if st["Sid"] == TLSStatementSid {
			ours = i
		}
	}
	canonical, err := json.Marshal(tlsStatement(bucket))
	if err != nil {
		return "", false, err
	}
	if ours >= 0 {
		stmts[ours] = canonical
	} else {
		stmts = append(stmts, canonical)
	}
	if _, ok := doc["Version"]; !ok {
		doc["Version"] = json.RawMessage(`"2012-10-17"`)
	}
	if doc["Statement"], err = json.Marshal(stmts); err != nil {
		return "", false, err
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return "", false, err
	}
	return string(out), true, nil
}

// isTLSDeny reports whether a statement denies every S3 action on the
// bucket and its objects to everyone when the request is not over TLS.
func isTLSDeny(st map[string]any, bucket string) bool {
	if st["Effect"] != "Deny" {
		return false
	}
	if _, ok := st["NotAction"]; ok {
		return false
	}
	if _, ok := st["NotResource"]; ok {
		return false
	}
	if _, ok := st["NotPrincipal"]; ok {
		return false
	}
	if !isEveryone(st["Principal"]) {
		return false
	}
	actions := stringList(st["Action"])
	if !slices.Contains(actions, "s3:*") && !slices.Contains(actions, "*") {
		return false
	}
	arn := "arn:aws:s3:::" + bucket
	res := stringList(st["Resource"])
	coversBucket := slices.Contains(res, arn) || slices.Contains(res, "*")
	coversObjects := slices.Contains(res, arn+"/*") || slices.Contains(res, "*")
	if !coversBucket || !coversObjects {
		return false
	}
	cond, ok := st["Condition"].(map[string]any)
	if !ok || len(cond) != 1 {
		return false
	}
	boolCond, ok := cond["Bool"].(map[string]any)
	if !ok || len(boolCond) != 1 {
		return false
	}
	for k, v := range boolCond {
		if !strings.EqualFold(k, "aws:SecureTransport") {
			return false
		}
		vals := stringList(v)
		return len(vals) == 1 && strings.EqualFold(vals[0], "false")
	}
	return false
}

func isEveryone(p any) bool {
	switch p := p.(type) {
	case string:
		return p == "*"
	case map[string]any:
		if len(p) != 1 {
			return false
		}
		return slices.Contains(stringList(p["AWS"]), "*")
	}
	return false
}

// stringList reads an IAM "string or list of strings" value; booleans are
// rendered as their JSON text (Condition values may be written unquoted).
func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case bool:
		return []string{fmt.Sprint(v)}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			switch e := e.(type) {
			case string:
				out = append(out, e)
			case bool:
				out = append(out, fmt.Sprint(e))
			}
		}
		return out
	}
	return nil
}
