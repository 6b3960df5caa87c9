package backend

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/text2agent/tfstate-guard/internal/ctxwait"
	"github.com/text2agent/tfstate-guard/lockcheck"
)

// Table check settings (Check.Setting).
const (
	SettingKeySchema          = "key schema"
	SettingTableEncryption    = "encryption"
	SettingPointInTime        = "point-in-time recovery"
	SettingDeletionProtection = "deletion protection"
	SettingTTL                = "TTL"
)

// lockIDAttribute is the hash key Terraform's S3 backend requires.
const lockIDAttribute = "LockID"

// tableActiveTimeout bounds the wait for a table another job is creating.
var tableActiveTimeout = 5 * time.Minute

func tableCheck(setting string, state CheckState, format string, args ...any) Check {
	return Check{Resource: ResourceTable, Setting: setting, State: state, Detail: fmt.Sprintf(format, args...)}
}

// ensureTable makes the lock table exist with the right key and hardens it.
func ensureTable(ctx context.Context, api DynamoDBAPI, o SetupOptions) ([]Check, error) {
	desc, exists, err := describeTable(ctx, api, o.Table)
	if err != nil {
		return nil, err
	}
	var checks []Check
	created := false
	if desc == nil {
		if desc, exists, created, err = createTable(ctx, api, o); err != nil {
			return nil, err
		}
	}
	checks = append(checks, exists)
	if desc.TableStatus != types.TableStatusActive {
		if desc, err = waitActive(ctx, api, o.Table); err != nil {
			return checks, err
		}
	}
	if err := checkKeySchema(desc, o.Table); err != nil {
		return checks, err
	}
	checks = append(checks, tableCheck(SettingKeySchema, StateAlreadyRight, "LockID (string) hash key"))
	checks = append(checks, tableEncryption(desc, o, created))

	t := tableJob{api: api, o: o, arn: aws.ToString(desc.TableArn), created: created}
	// Reads in parallel; writes one after another, as DynamoDB refuses
	// some concurrent updates of one table.
	var pitr *types.PointInTimeRecoveryDescription
	var ttl *types.TimeToLiveDescription
	var tags map[string]string
	err = parallel(
		func() (err error) { pitr, err = t.readPITR(ctx); return },
		func() (err error) { ttl, err = t.readTTL(ctx); return },
		func() (err error) { tags, err = t.readTags(ctx); return },
	)
	if err != nil {
		return checks, err
	}
	for _, step := range []func(context.Context) (Check, error){
		func(ctx context.Context) (Check, error) { return t.pointInTimeRecovery(ctx, pitr) },
		func(ctx context.Context) (Check, error) { return t.timeToLive(ctx, ttl) },
		func(ctx context.Context) (Check, error) { return t.deletionProtection(ctx, desc) },
		func(ctx context.Context) (Check, error) { return t.tags(ctx, tags) },
	} {
		c, err := step(ctx)
		if err != nil {
			return checks, err
		}
		checks = append(checks, c)
	}
	return checks, nil
}

// describeTable returns nil when the table does not exist.
func describeTable(ctx context.Context, api DynamoDBAPI, table string) (*types.TableDescription, Check, error) {
	out, err := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	var nf *types.ResourceNotFoundException
	switch {
	case err == nil:
		return out.Table, tableCheck(SettingExists, StateAlreadyRight, "table %q exists", table), nil
	case errors.As(err, &nf):
		return nil, Check{}, nil
	}
	return nil, Check{}, denied(err, "dynamodb:DescribeTable", table, fmt.Sprintf("describe table %q", table))
}

// createTable creates the table. ResourceInUseException means it exists
// or another job is creating it now: the caller then waits for ACTIVE.
func createTable(ctx context.Context, api DynamoDBAPI, o SetupOptions) (*types.TableDescription, Check, bool, error) {
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(o.Table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(lockIDAttribute), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(lockIDAttribute), KeyType: types.KeyTypeHash},
		},
		DeletionProtectionEnabled: aws.Bool(!o.SkipDeletionProtection),
	}
	if !o.SkipEncryption {
		// KMS with the AWS managed key (aws/dynamodb); without it the
		// table is still encrypted at rest, with an AWS owned key.
		in.SSESpecification = &types.SSESpecification{Enabled: aws.Bool(true), SSEType: types.SSETypeKms}
	}
	if !o.SkipTags {
		for _, k := range sortedTagKeys(o.Tags) {
			in.Tags = append(in.Tags, types.Tag{Key: aws.String(k), Value: aws.String(o.Tags[k])})
		}
	}
	out, err := api.CreateTable(ctx, in)
	var inUse *types.ResourceInUseException
	switch {
	case err == nil:
		return out.TableDescription, tableCheck(SettingExists, StateChanged, "created table %q (on-demand)", o.Table), true, nil
	case errors.As(err, &inUse):
		desc, err := waitActive(ctx, api, o.Table)
		if err != nil {
			return nil, Check{}, false, err
		}
		return desc, tableCheck(SettingExists, StateAlreadyRight, "table %q was created at the same time by another job", o.Table), false, nil
	}
	return nil, Check{}, false, denied(err, "dynamodb:CreateTable", o.Table, fmt.Sprintf("create table %q", o.Table))
}

// waitActive polls until the table is ACTIVE.
func waitActive(ctx context.Context, api DynamoDBAPI, table string) (*types.TableDescription, error) {
	ctx, cancel := context.WithTimeout(ctx, tableActiveTimeout)
	defer cancel()
	delay := 200 * time.Millisecond
	for {
		out, err := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		var nf *types.ResourceNotFoundException
		switch {
		case err == nil:
			switch out.Table.TableStatus {
			case types.TableStatusActive:
				return out.Table, nil
			case types.TableStatusCreating, types.TableStatusUpdating:
			default:
				return nil, fmt.Errorf("table %q is %s; wait until it is ACTIVE or choose another lock-table", table, out.Table.TableStatus)
			}
		case errors.As(err, &nf):
			// CreateTable said in use, but the table is not visible yet.
		default:
			return nil, denied(err, "dynamodb:DescribeTable", table, fmt.Sprintf("wait for table %q to become ACTIVE", table))
		}
		if err := ctxwait.Sleep(ctx, delay); err != nil {
			return nil, fmt.Errorf("table %q did not become ACTIVE within %s: %w", table, tableActiveTimeout, err)
		}
		delay = min(delay*2, 5*time.Second)
	}
}

func checkKeySchema(desc *types.TableDescription, table string) error {
	types_ := map[string]types.ScalarAttributeType{}
	for _, a := range desc.AttributeDefinitions {
		types_[aws.ToString(a.AttributeName)] = a.AttributeType
	}
	var keys []string
	for _, k := range desc.KeySchema {
		name := aws.ToString(k.AttributeName)
		keys = append(keys, fmt.Sprintf("%s (%s, %s)", name, strings.ToLower(string(k.KeyType)), scalarName(types_[name])))
	}
	ok := len(desc.KeySchema) == 1 &&
		aws.ToString(desc.KeySchema[0].AttributeName) == lockIDAttribute &&
		desc.KeySchema[0].KeyType == types.KeyTypeHash &&
		types_[lockIDAttribute] == types.ScalarAttributeTypeS
	if ok {
		return nil
	}
	return configErrorf("lock-table", nil,
		"table %q has key schema %s, but Terraform's lock table needs exactly one key, LockID (hash, string); choose another lock-table, or recreate this table with that key",
		table, strings.Join(keys, " + "))
}

func scalarName(t types.ScalarAttributeType) string {
	switch t {
	case types.ScalarAttributeTypeS:
		return "string"
	case types.ScalarAttributeTypeN:
		return "number"
	case types.ScalarAttributeTypeB:
		return "binary"
	}
	return "unknown type"
}

// tableEncryption reports the table's encryption. DynamoDB encrypts every
// table at rest; changing the key of an existing table is left to its owner.
func tableEncryption(desc *types.TableDescription, o SetupOptions, created bool) Check {
	sse := desc.SSEDescription
	isKMS := sse != nil && (sse.Status == types.SSEStatusEnabled || sse.Status == types.SSEStatusEnabling)
	switch {
	case created && isKMS:
		return tableCheck(SettingTableEncryption, StateChanged, "created with KMS encryption (AWS managed key)")
	case o.SkipEncryption && created:
		return tableCheck(SettingTableEncryption, StateSkipped, "turned off by input: encrypted at rest with an AWS owned key")
	case isKMS:
		return tableCheck(SettingTableEncryption, StateAlreadyRight, "KMS encryption (%s)", aws.ToString(sse.KMSMasterKeyArn))
	}
	return tableCheck(SettingTableEncryption, StateAlreadyRight, "encrypted at rest with an AWS owned key (left as is)")
}

type tableJob struct {
	api DynamoDBAPI
	o   SetupOptions
	arn string
	// created: this run created the table, with deletion protection, SSE
	// and tags already in CreateTable.
	created bool
}

func (t tableJob) name() *string { return aws.String(t.o.Table) }

func (t tableJob) readPITR(ctx context.Context) (*types.PointInTimeRecoveryDescription, error) {
	if t.o.SkipPointInTimeRecovery {
		return nil, nil
	}
	out, err := t.api.DescribeContinuousBackups(ctx, &dynamodb.DescribeContinuousBackupsInput{TableName: t.name()})
	if err != nil {
		return nil, denied(err, "dynamodb:DescribeContinuousBackups", t.o.Table, fmt.Sprintf("read point-in-time recovery of table %q", t.o.Table))
	}
	if out.ContinuousBackupsDescription == nil || out.ContinuousBackupsDescription.PointInTimeRecoveryDescription == nil {
		return &types.PointInTimeRecoveryDescription{}, nil
	}
	return out.ContinuousBackupsDescription.PointInTimeRecoveryDescription, nil
}

func (t tableJob) pointInTimeRecovery(ctx context.Context, d *types.PointInTimeRecoveryDescription) (Check, error) {
	if t.o.SkipPointInTimeRecovery {
		return tableCheck(SettingPointInTime, StateSkipped, "turned off by input"), nil
	}
	if d.PointInTimeRecoveryStatus == types.PointInTimeRecoveryStatusEnabled {
		return tableCheck(SettingPointInTime, StateAlreadyRight, "enabled"), nil
	}
	err := retryBusy(ctx, func() error {
		_, err := t.api.UpdateContinuousBackups(ctx, &dynamodb.UpdateContinuousBackupsInput{
			TableName:                        t.name(),
			PointInTimeRecoverySpecification: &types.PointInTimeRecoverySpecification{PointInTimeRecoveryEnabled: aws.Bool(true)},
		})
		return err
	})
	if err != nil {
		return Check{}, denied(err, "dynamodb:UpdateContinuousBackups", t.o.Table, fmt.Sprintf("enable point-in-time recovery on table %q", t.o.Table))
	}
	return tableCheck(SettingPointInTime, StateChanged, "enabled"), nil
}

func (t tableJob) readTTL(ctx context.Context) (*types.TimeToLiveDescription, error) {
	out, err := t.api.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: t.name()})
	if err != nil {
		return nil, denied(err, "dynamodb:DescribeTimeToLive", t.o.Table, fmt.Sprintf("read TTL of table %q", t.o.Table))
	}
	if out.TimeToLiveDescription == nil {
		return &types.TimeToLiveDescription{}, nil
	}
	return out.TimeToLiveDescription, nil
}

// timeToLive turns TTL on for the run-record attribute, which is not a
// hardening step but what keeps run records from piling up.
func (t tableJob) timeToLive(ctx context.Context, d *types.TimeToLiveDescription) (Check, error) {
	const want = lockcheck.RunRecordTTLAttribute
	if c, done := ttlState(d, t.o.Table); done {
		return c, nil
	}
	err := retryBusy(ctx, func() error {
		_, err := t.api.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName:               t.name(),
			TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(want), Enabled: aws.Bool(true)},
		})
		return err
	})
	if err == nil {
		return tableCheck(SettingTTL, StateChanged, "enabled on %s", want), nil
	}
	if hasCode(err, "ValidationException") {
		// AWS refuses a second enable ("TimeToLive is already enabled"),
		// for example when another job enabled it a moment ago.
		if d, rerr := t.readTTL(ctx); rerr == nil {
			if c, done := ttlState(d, t.o.Table); done {
				return c, nil
			}
		}
	}
	return Check{}, denied(err, "dynamodb:UpdateTimeToLive", t.o.Table, fmt.Sprintf("enable TTL on attribute %s of table %q", want, t.o.Table))
}

func ttlState(d *types.TimeToLiveDescription, table string) (Check, bool) {
	const want = lockcheck.RunRecordTTLAttribute
	attr := aws.ToString(d.AttributeName)
	switch d.TimeToLiveStatus {
	case types.TimeToLiveStatusEnabled, types.TimeToLiveStatusEnabling:
		if attr == want {
			return tableCheck(SettingTTL, StateAlreadyRight, "%s on %s", strings.ToLower(string(d.TimeToLiveStatus)), want), true
		}
		// A table has one TTL attribute; changing it would expire the
		// owner's items differently. Run records then stay until removed.
		return tableCheck(SettingTTL, StateAttention,
			"TTL is on attribute %q, not %s: run records in table %q will not expire; switch TTL to %s if nothing else relies on %q",
			attr, want, table, want, attr), true
	case types.TimeToLiveStatusDisabling:
		return tableCheck(SettingTTL, StateAttention, "TTL is being disabled on table %q; run setup again in an hour to enable it on %s", table, want), true
	}
	return Check{}, false
}

func (t tableJob) deletionProtection(ctx context.Context, desc *types.TableDescription) (Check, error) {
	if t.o.SkipDeletionProtection {
		return tableCheck(SettingDeletionProtection, StateSkipped, "turned off by input"), nil
	}
	if aws.ToBool(desc.DeletionProtectionEnabled) {
		if t.created {
			return tableCheck(SettingDeletionProtection, StateChanged, "enabled at creation"), nil
		}
		return tableCheck(SettingDeletionProtection, StateAlreadyRight, "enabled"), nil
	}
	err := retryBusy(ctx, func() error {
		_, err := t.api.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: t.name(), DeletionProtectionEnabled: aws.Bool(true)})
		return err
	})
	if err != nil {
		return Check{}, denied(err, "dynamodb:UpdateTable", t.o.Table, fmt.Sprintf("enable deletion protection on table %q", t.o.Table))
	}
	return tableCheck(SettingDeletionProtection, StateChanged, "enabled"), nil
}

func (t tableJob) readTags(ctx context.Context) (map[string]string, error) {
	if t.o.SkipTags || len(t.o.Tags) == 0 || t.created {
		return nil, nil
	}
	tags := map[string]string{}
	in := &dynamodb.ListTagsOfResourceInput{ResourceArn: aws.String(t.arn)}
	for {
		out, err := t.api.ListTagsOfResource(ctx, in)
		if err != nil {
			return nil, denied(err, "dynamodb:ListTagsOfResource", t.o.Table, fmt.Sprintf("read tags of table %q", t.o.Table))
		}
		for _, tag := range out.Tags {
			tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
		}
		if out.NextToken == nil {
			return tags, nil
		}
		in.NextToken = out.NextToken
	}
}

func (t tableJob) tags(ctx context.Context, current map[string]string) (Check, error) {
	if t.o.SkipTags {
		return tableCheck(SettingTags, StateSkipped, "turned off by input"), nil
	}
	if len(t.o.Tags) == 0 {
		return tableCheck(SettingTags, StateSkipped, "no tags input"), nil
	}
	if t.created {
		return tableCheck(SettingTags, StateChanged, "set %s at creation", strings.Join(sortedTagKeys(t.o.Tags), ", ")), nil
	}
	_, changed := mergeTags(current, t.o.Tags)
	if len(changed) == 0 {
		return tableCheck(SettingTags, StateAlreadyRight, "%d tags present", len(t.o.Tags)), nil
	}
	var tags []types.Tag
	for _, k := range changed {
		tags = append(tags, types.Tag{Key: aws.String(k), Value: aws.String(t.o.Tags[k])})
	}
	// TagResource adds and overwrites only the keys it is given.
	_, err := t.api.TagResource(ctx, &dynamodb.TagResourceInput{ResourceArn: aws.String(t.arn), Tags: tags})
	if err != nil {
		return Check{}, denied(err, "dynamodb:TagResource", t.o.Table, fmt.Sprintf("tag table %q", t.o.Table))
	}
	return tableCheck(SettingTags, StateChanged, "set %s; kept other tags", strings.Join(changed, ", ")), nil
}

// retryBusy retries a table update that DynamoDB refuses while the table
// is still settling: right after creation continuous backups are not yet
// available, and updates are refused while another one runs.
func retryBusy(ctx context.Context, call func() error) error {
	delay := 500 * time.Millisecond
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := call()
		var busy *types.ContinuousBackupsUnavailableException
		var inUse *types.ResourceInUseException
		var limit *types.LimitExceededException
		if err == nil || !(errors.As(err, &busy) || errors.As(err, &inUse) || errors.As(err, &limit)) || time.Now().After(deadline) {
			return err
		}
		if serr := ctxwait.Sleep(ctx, delay); serr != nil {
			return errors.Join(err, serr)
		}
		delay = min(delay*2, 10*time.Second)
	}
}
