// Package wrapper runs Terraform under a lock it takes itself: `tfstate-guard
// run -- terraform <args>` reads the S3 backend terraform init configured,
// takes the state lock exactly as Terraform does (its own lock ID), keeps a
// lease beside it while Terraform runs with -lock=false, fences Terraform
// when the lease cannot be renewed, and releases the lock whatever the exit.
package wrapper

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/text2agent/tfstate-guard/lockcheck"
)

// Backend is the S3 backend of a working directory, as terraform init
// recorded it, with the workspace selected.
type Backend struct {
	Bucket             string
	Key                string
	Workspace          string
	WorkspaceKeyPrefix string
	Region             string
	Table              string
	UseLockfile        bool
	// Endpoints of a non-AWS server (a local S3), empty for AWS.
	S3Endpoint, DynamoDBEndpoint string
	PathStyle                    bool
	Profile                      string
	// TerraformVersion is the version of the Terraform that ran init: the
	// lock's Info.Version, as Terraform would write it, without the
	// 150 ms of asking the binary.
	TerraformVersion string
}

// LockPath is "<bucket>/<state path>": the DynamoDB LockID.
func (b Backend) LockPath() string {
	return lockcheck.WorkspacePath(b.Bucket, b.Key, b.WorkspaceKeyPrefix, b.Workspace)
}

// StatePath is the state's key in the bucket.
func (b Backend) StatePath() string { return strings.TrimPrefix(b.LockPath(), b.Bucket+"/") }

// Locks reports whether the backend locks at all.
func (b Backend) Locks() bool { return b.Table != "" || b.UseLockfile }

// backendFile is the part of .terraform/terraform.tfstate that names the backend.
type backendFile struct {
	TerraformVersion string `json:"terraform_version"`
	Backend          *struct {
		Type   string         `json:"type"`
		Config map[string]any `json:"config"`
	} `json:"backend"`
}

// ReadBackend reads the backend terraform init recorded in dataDir
// (.terraform, or $TF_DATA_DIR) and the workspace selected there (or
// $TF_WORKSPACE).
func ReadBackend(dataDir string, getenv func(string) string) (Backend, error) {
	path := filepath.Join(dataDir, "terraform.tfstate")
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Backend{}, fmt.Errorf("%s does not exist: run terraform init first, or name the backend with --bucket, --key and --lock-table or --use-lockfile", path)
	}
	if err != nil {
		return Backend{}, fmt.Errorf("read the backend terraform init recorded: %w", err)
	}
	var f backendFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return Backend{}, fmt.Errorf("%s is not JSON: %w", path, err)
	}
	if f.Backend == nil || f.Backend.Type == "" {
		return Backend{}, fmt.Errorf("%s names no backend: tfstate-guard run needs an S3 backend (terraform { backend \"s3\" {} })", path)
	}
	if f.Backend.Type != "s3" {
		return Backend{}, fmt.Errorf("%s names backend %q: tfstate-guard run handles the s3 backend only", path, f.Backend.Type)
	}
	c := f.Backend.Config
	b := Backend{
		Bucket: str(c["bucket"]), Key: str(c["key"]), Region: str(c["region"]),
		WorkspaceKeyPrefix: str(c["workspace_key_prefix"]), Table: str(c["dynamodb_table"]),
		UseLockfile: c["use_lockfile"] == true, PathStyle: c["use_path_style"] == true || c["force_path_style"] == true,
		Profile: str(c["profile"]), TerraformVersion: f.TerraformVersion,
	}
	if ep, ok := c["endpoints"].(map[string]any); ok {
		b.S3Endpoint, b.DynamoDBEndpoint = str(ep["s3"]), str(ep["dynamodb"])
	}
	if b.S3Endpoint == "" {
		b.S3Endpoint = str(c["endpoint"])
	}
	if b.DynamoDBEndpoint == "" {
		b.DynamoDBEndpoint = str(c["dynamodb_endpoint"])
	}
	b.Workspace = getenv("TF_WORKSPACE")
	if b.Workspace == "" {
		if ws, err := os.ReadFile(filepath.Join(dataDir, "environment")); err == nil {
			b.Workspace = strings.TrimSpace(string(ws))
		}
	}
	if b.Workspace == "" {
		b.Workspace = "default"
	}
	return b, nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
