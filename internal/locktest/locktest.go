// Package locktest holds the test helpers that make Terraform lock tables
// and lock items on a real DynamoDB-protocol server, shared by the lock,
// top-level and end-to-end tests.
package locktest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"
)

var seq atomic.Int64

// UniqueName returns prefix with a suffix unique in this process and
// unlikely to repeat across processes sharing a server.
func UniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e9, seq.Add(1))
}

// CreateTable creates a table shaped as Terraform's S3 backend needs it:
// hash key LockID (string), on-demand billing.
func CreateTable(t testing.TB, ddb *dynamodb.Client, name string) {
	t.Helper()
	_, err := ddb.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("LockID"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("LockID"), KeyType: types.KeyTypeHash}},
	})
	require.NoError(t, err)
}

// PutItem stores an item whose attributes are all strings.
func PutItem(t testing.TB, ddb *dynamodb.Client, table string, attrs map[string]string) {
	t.Helper()
	item := map[string]types.AttributeValue{}
	for k, v := range attrs {
		item[k] = &types.AttributeValueMemberS{Value: v}
	}
	_, err := ddb.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: item})
	require.NoError(t, err)
}

// InfoJSON renders lock Info exactly as Terraform 1.11 writes it.
func InfoJSON(id, path, who string, created time.Time) string {
	return fmt.Sprintf(`{"ID":%q,"Operation":"OperationTypeApply","Info":"","Who":%q,"Version":"1.11.4","Created":%q,"Path":%q}`,
		id, who, created.UTC().Format(time.RFC3339Nano), path)
}
