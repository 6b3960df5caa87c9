terraform {
  required_version = ">= 1.5.7"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.28, < 7"
    }
  }

  # Partial configuration: tfstate-guard's `mode: setup` writes the bucket,
  # key, region and lock settings into backend_override.tf in CI; locally,
  # pass them with -backend-config (see README.md).
  backend "s3" {}
}
