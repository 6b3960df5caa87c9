package backend

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/text2agent/tfstate-guard/internal/ctxwait"
)

// Bucket check settings (Check.Setting).
const (
	SettingExists            = "exists"
	SettingVersioning        = "versioning"
	SettingEncryption        = "default encryption"
	SettingPublicAccessBlock = "public access block"
	SettingTLSPolicy         = "TLS-only policy"
	SettingTags              = "tags"
)

// ensureBucket makes the state bucket exist and hardens it. It reads every
// setting first and writes only what is wrong.
func ensureBucket(ctx context.Context, api S3API, o SetupOptions) ([]Check, error) {
	exists, err := bucketExists(ctx, api, o)
	if err != nil {
		return nil, err
	}
	if exists.State != StateAlreadyRight {
		// Creation in progress elsewhere, or done by us: either way the
		// settings below are read, never assumed.
		if exists, err = createBucket(ctx, api, o); err != nil {
			return nil, err
		}
	}
	b := bucketJob{api: api, o: o}
	checks := make([]Check, 5)
	err = parallel(
		func() (err error) { checks[0], err = b.versioning(ctx); return },
		func() (err error) { checks[1], err = b.encryption(ctx); return },
		func() (err error) { checks[2], err = b.publicAccessBlock(ctx); return },
		func() (err error) { checks[3], err = b.tlsPolicy(ctx); return },
		func() (err error) { checks[4], err = b.tags(ctx); return },
	)
	return append([]Check{exists}, checks...), err
}

func bucketCheck(setting string, state CheckState, format string, args ...any) Check {
	return Check{Resource: ResourceBucket, Setting: setting, State: state, Detail: fmt.Sprintf(format, args...)}
}

// bucketExists answers already-right when the bucket is there and usable,
// changed (meaning: create it) when it is missing.
func bucketExists(ctx context.Context, api S3API, o SetupOptions) (Check, error) {
	out, err := api.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(o.Bucket)})
	if err == nil {
		if r := aws.ToString(out.BucketRegion); r != "" && r != o.Region {
			return Check{}, wrongRegion(o, r)
		}
		return bucketCheck(SettingExists, StateAlreadyRight, "bucket %q exists in %s", o.Bucket, o.Region), nil
	}
	switch status := httpStatus(err); {
	case status == http.StatusNotFound || hasCode(err, "NotFound", "NoSuchBucket"):
		return bucketCheck(SettingExists, StateChanged, ""), nil
	case status == http.StatusMovedPermanently:
		return Check{}, wrongRegion(o, responseHeader(err, "X-Amz-Bucket-Region"))
	case status == http.StatusForbidden:
		// S3 answers 403 both for a bucket of another account and for an
		// own bucket the credentials may not list: name both causes.
		return Check{}, configErrorf("state-bucket", err,
			"bucket %q exists but these credentials may not use it: it belongs to another AWS account, or the credentials lack s3:ListBucket on it; choose another state-bucket or grant s3:ListBucket", o.Bucket)
	}
	return Check{}, fmt.Errorf("check whether bucket %q exists: %w", o.Bucket, err)
}

func wrongRegion(o SetupOptions, actual string) error {
	if actual == "" {
		actual = "another region"
	}
	return configErrorf("aws-region", nil,
		"bucket %q is in %s, not in aws-region %q; set aws-region to the bucket's region or choose another state-bucket", o.Bucket, actual, o.Region)
}

func responseHeader(err error, name string) string {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		return re.Response.Header.Get(name)
	}
	return ""
}

// createBucket creates the bucket. A bucket created meanwhile by another
// job with the same credentials counts as success; one owned by another
// account is a ConfigError.
func createBucket(ctx context.Context, api S3API, o SetupOptions) (Check, error) {
	in := &s3.CreateBucketInput{
		Bucket:          aws.String(o.Bucket),
		ObjectOwnership: types.ObjectOwnershipBucketOwnerEnforced,
	}
	// us-east-1 is the one region that refuses a LocationConstraint.
	if o.Region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(o.Region),
		}
	}
	for attempt := 0; ; attempt++ {
		_, err := api.CreateBucket(ctx, in)
		var owned *types.BucketAlreadyOwnedByYou
		var taken *types.BucketAlreadyExists
		switch {
		case err == nil:
			return bucketCheck(SettingExists, StateChanged, "created bucket %q in %s", o.Bucket, o.Region), nil
		case errors.As(err, &owned):
			return bucketCheck(SettingExists, StateAlreadyRight, "bucket %q was created at the same time by another job", o.Bucket), nil
		case errors.As(err, &taken):
			return Check{}, configErrorf("state-bucket", err,
				"bucket %q belongs to another AWS account (bucket names are global); choose another state-bucket", o.Bucket)
		case hasCode(err, "OperationAborted") && attempt < 10:
			// "A conflicting conditional operation is currently in
			// progress": another job is creating it right now.
			if err := ctxwait.Sleep(ctx, time.Second); err != nil {
				return Check{}, err
			}
			if c, herr := bucketExists(ctx, api, o); herr == nil && c.State == StateAlreadyRight {
				return bucketCheck(SettingExists, StateAlreadyRight, "bucket %q was created at the same time by another job", o.Bucket), nil
			}
			continue
		case hasCode(err, "IllegalLocationConstraintException", "InvalidLocationConstraint"):
			return Check{}, configErrorf("aws-region", err, "cannot create bucket %q in aws-region %q; check aws-region", o.Bucket, o.Region)
		}
		return Check{}, denied(err, "s3:CreateBucket", o.Bucket, fmt.Sprintf("create bucket %q in %s", o.Bucket, o.Region))
	}
}

type bucketJob struct {
	api S3API
	o   SetupOptions
}

func (b bucketJob) bucket() *string { return aws.String(b.o.Bucket) }

func (b bucketJob) versioning(ctx context.Context) (Check, error) {
	if b.o.SkipVersioning {
		return bucketCheck(SettingVersioning, StateSkipped, "turned off by input"), nil
	}
	out, err := b.api.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: b.bucket()})
	if err != nil {
		return Check{}, denied(err, "s3:GetBucketVersioning", b.o.Bucket, fmt.Sprintf("read versioning of bucket %q", b.o.Bucket))
	}
	if out.Status == types.BucketVersioningStatusEnabled {
		return bucketCheck(SettingVersioning, StateAlreadyRight, "enabled"), nil
	}
	was := "never enabled"
	if out.Status != "" {
		was = strings.ToLower(string(out.Status))
	}
	_, err = b.api.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  b.bucket(),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	})
	if err != nil {
		return Check{}, denied(err, "s3:PutBucketVersioning", b.o.Bucket, fmt.Sprintf("enable versioning on bucket %q", b.o.Bucket))
	}
	return bucketCheck(SettingVersioning, StateChanged, "enabled (was %s)", was), nil
}

func (b bucketJob) encryption(ctx context.Context) (Check, error) {
	if b.o.SkipEncryption {
		return bucketCheck(SettingEncryption, StateSkipped, "turned off by input"), nil
	}
	out, err := b.api.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: b.bucket()})
	was := "none"
	switch {
	case err == nil:
		var rule *types.ServerSideEncryptionByDefault
		bucketKey := false
		if out.ServerSideEncryptionConfiguration != nil {
			for _, r := range out.ServerSideEncryptionConfiguration.Rules {
				if r.ApplyServerSideEncryptionByDefault != nil {
					rule, bucketKey = r.ApplyServerSideEncryptionByDefault, aws.ToBool(r.BucketKeyEnabled)
					break
				}
			}
		}
		if rule != nil {
			algo, key := rule.SSEAlgorithm, aws.ToString(rule.KMSMasterKeyID)
			isKMS := algo == types.ServerSideEncryptionAwsKms || algo == types.ServerSideEncryptionAwsKmsDsse
			if b.o.KMSKeyID == "" {
				if isKMS {
					// Never downgrade SSE-KMS to SSE-S3.
					return bucketCheck(SettingEncryption, StateAlreadyRight, "SSE-KMS with key %q (kept; stronger than SSE-S3)", key), nil
				}
				return bucketCheck(SettingEncryption, StateAlreadyRight, "SSE-S3 (%s)", algo), nil
			}
			if isKMS && sameKMSKey(key, b.o.KMSKeyID) && bucketKey {
				return bucketCheck(SettingEncryption, StateAlreadyRight, "SSE-KMS with key %q and bucket key", key), nil
			}
			was = string(algo)
			if key != "" {
				was += " with key " + key
			}
			if isKMS && !bucketKey {
				was += " without bucket key"
			}
		}
	case hasCode(err, "ServerSideEncryptionConfigurationNotFoundError"):
	default:
		return Check{}, denied(err, "s3:GetEncryptionConfiguration", b.o.Bucket, fmt.Sprintf("read default encryption of bucket %q", b.o.Bucket))
	}
	rule := types.ServerSideEncryptionRule{
		ApplyServerSideEncryptionByDefault: &types.ServerSideEncryptionByDefault{SSEAlgorithm: types.ServerSideEncryptionAes256},
	}
	now := "SSE-S3"
	if b.o.KMSKeyID != "" {
		rule.ApplyServerSideEncryptionByDefault = &types.ServerSideEncryptionByDefault{
			SSEAlgorithm:   types.ServerSideEncryptionAwsKms,
			KMSMasterKeyID: aws.String(b.o.KMSKeyID),
		}
		rule.BucketKeyEnabled = aws.Bool(true)
		now = fmt.Sprintf("SSE-KMS with key %q and bucket key", b.o.KMSKeyID)
	}
	_, err = b.api.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{
		Bucket:                            b.bucket(),
		ServerSideEncryptionConfiguration: &types.ServerSideEncryptionConfiguration{Rules: []types.ServerSideEncryptionRule{rule}},
	})
	if err != nil {
		return Check{}, denied(err, "s3:PutEncryptionConfiguration", b.o.Bucket, fmt.Sprintf("set default encryption of bucket %q", b.o.Bucket))
	}
	return bucketCheck(SettingEncryption, StateChanged, "%s (was %s)", now, was), nil
}

// sameKMSKey compares KMS key references loosely: a key ID, a key ARN, an
// alias name and an alias ARN name the same key when their resource parts
// ("key/<id>", "alias/<name>") are equal.
func sameKMSKey(a, b string) bool {
	norm := func(s string) string {
		if strings.HasPrefix(s, "arn:") {
			if parts := strings.SplitN(s, ":", 6); len(parts) == 6 {
				s = parts[5]
			}
		}
		if !strings.Contains(s, "/") {
			s = "key/" + s
		}
		return s
	}
	return a != "" && b != "" && norm(a) == norm(b)
}

func (b bucketJob) publicAccessBlock(ctx context.Context) (Check, error) {
	if b.o.SkipPublicAccessBlock {
		return bucketCheck(SettingPublicAccessBlock, StateSkipped, "turned off by input"), nil
	}
	out, err := b.api.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: b.bucket()})
	var off []string
	switch {
	case err == nil:
		c := out.PublicAccessBlockConfiguration
		if c == nil {
			c = &types.PublicAccessBlockConfiguration{}
		}
		for _, s := range []struct {
			name string
			on   *bool
		}{
			{"BlockPublicAcls", c.BlockPublicAcls},
			{"IgnorePublicAcls", c.IgnorePublicAcls},
			{"BlockPublicPolicy", c.BlockPublicPolicy},
			{"RestrictPublicBuckets", c.RestrictPublicBuckets},
		} {
			if !aws.ToBool(s.on) {
				off = append(off, s.name)
			}
		}
		if len(off) == 0 {
			return bucketCheck(SettingPublicAccessBlock, StateAlreadyRight, "all four settings on"), nil
		}
	case hasCode(err, "NoSuchPublicAccessBlockConfiguration"):
		off = []string{"all four (none was set)"}
	default:
		return Check{}, denied(err, "s3:GetBucketPublicAccessBlock", b.o.Bucket, fmt.Sprintf("read public access block of bucket %q", b.o.Bucket))
	}
	_, err = b.api.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{
		Bucket: b.bucket(),
		PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{
			BlockPublicAcls:       aws.Bool(true),
			IgnorePublicAcls:      aws.Bool(true),
			BlockPublicPolicy:     aws.Bool(true),
			RestrictPublicBuckets: aws.Bool(true),
		},
	})
	if err != nil {
		return Check{}, denied(err, "s3:PutBucketPublicAccessBlock", b.o.Bucket, fmt.Sprintf("put public access block on bucket %q", b.o.Bucket))
	}
	return bucketCheck(SettingPublicAccessBlock, StateChanged, "turned on %s", strings.Join(off, ", ")), nil
}

func (b bucketJob) tlsPolicy(ctx context.Context) (Check, error) {
	if b.o.SkipEnforcedTLS {
		return bucketCheck(SettingTLSPolicy, StateSkipped, "turned off by input"), nil
	}
	existing := ""
	out, err := b.api.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: b.bucket()})
	switch {
	case err == nil:
		existing = aws.ToString(out.Policy)
	case hasCode(err, "NoSuchBucketPolicy"):
	default:
		return Check{}, denied(err, "s3:GetBucketPolicy", b.o.Bucket, fmt.Sprintf("read policy of bucket %q", b.o.Bucket))
	}
	merged, changed, err := mergeTLSPolicy(existing, b.o.Bucket)
	if err != nil {
		return Check{}, configErrorf("state-bucket", err,
			"cannot add the TLS-only statement to the policy of bucket %q; fix the policy, or set the TLS policy step off and manage it yourself", b.o.Bucket)
	}
	if !changed {
		return bucketCheck(SettingTLSPolicy, StateAlreadyRight, "a statement denies requests without TLS"), nil
	}
	_, err = b.api.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: b.bucket(), Policy: aws.String(merged)})
	if err != nil {
		return Check{}, denied(err, "s3:PutBucketPolicy", b.o.Bucket, fmt.Sprintf("put policy on bucket %q", b.o.Bucket))
	}
	if existing == "" {
		return bucketCheck(SettingTLSPolicy, StateChanged, "added policy with statement %s", TLSStatementSid), nil
	}
	return bucketCheck(SettingTLSPolicy, StateChanged, "added statement %s; kept the existing statements", TLSStatementSid), nil
}

func (b bucketJob) tags(ctx context.Context) (Check, error) {
	if b.o.SkipTags {
		return bucketCheck(SettingTags, StateSkipped, "turned off by input"), nil
	}
	if len(b.o.Tags) == 0 {
		return bucketCheck(SettingTags, StateSkipped, "no tags input"), nil
	}
	current := map[string]string{}
	out, err := b.api.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: b.bucket()})
	switch {
	case err == nil:
		for _, t := range out.TagSet {
			current[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	case hasCode(err, "NoSuchTagSet", "NoSuchTagSetError"):
	default:
		return Check{}, denied(err, "s3:GetBucketTagging", b.o.Bucket, fmt.Sprintf("read tags of bucket %q", b.o.Bucket))
	}
	merged, changed := mergeTags(current, b.o.Tags)
	if len(changed) == 0 {
		return bucketCheck(SettingTags, StateAlreadyRight, "%d tags present", len(b.o.Tags)), nil
	}
	if len(merged) > maxTags {
		return Check{}, configErrorf("tags", nil, "bucket %q would carry %d tags, more than S3 allows (%d); remove some", b.o.Bucket, len(merged), maxTags)
	}
	set := make([]types.Tag, 0, len(merged))
	for _, k := range sortedTagKeys(merged) {
		set = append(set, types.Tag{Key: aws.String(k), Value: aws.String(merged[k])})
	}
	// PutBucketTagging replaces the whole set: the other tags are sent back.
	_, err = b.api.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: b.bucket(), Tagging: &types.Tagging{TagSet: set}})
	if err != nil {
		return Check{}, denied(err, "s3:PutBucketTagging", b.o.Bucket, fmt.Sprintf("tag bucket %q", b.o.Bucket))
	}
	return bucketCheck(SettingTags, StateChanged, "set %s; kept other tags", strings.Join(changed, ", ")), nil
}

// mergeTags returns current with want applied and the sorted keys it changed.
func mergeTags(current, want map[string]string) (map[string]string, []string) {
	merged := make(map[string]string, len(current)+len(want))
	for k, v := range current {
		merged[k] = v
	}
	var changed []string
	for k, v := range want {
		if old, ok := current[k]; !ok || old != v {
			changed = append(changed, k)
		}
		merged[k] = v
	}
	slices.Sort(changed)
	return merged, changed
}
