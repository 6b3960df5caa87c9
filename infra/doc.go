// Package infra holds the Terraform configuration of the Text2Agent AWS
// stack (see README.md). It has no Go code of its own: infra_test.go parses
// the configuration with hashicorp/hcl and checks what terraform validate
// (which needs the AWS provider, not downloadable here), tflint and tfsec
// cannot: module interfaces, the engine version, the vector size, the
// order of the knowledge base and the schema bootstrap, and the layer path
// the deploy workflow builds.
package infra
