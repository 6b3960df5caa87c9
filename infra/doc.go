// Package infra holds the Terraform configuration of the Text2Agent AWS
// stack (see README.md). It has no Go code of its own. Its tests parse the
// configuration with hashicorp/hcl: schema_test.go checks every resource
// and data block against hashicorp/aws's schema at both ends of the
// version constraint (vendored in testdata/aws-provider-schema), which is
// what terraform validate would do if the provider could be downloaded
// here; infra_test.go checks what tflint and tfsec cannot: module
// interfaces, the engine version and its upgrades, the vector size, the
// order of the knowledge base and the schema bootstrap, and the layer path
// the deploy workflow builds.
package infra
