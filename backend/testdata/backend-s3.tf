# Written by tfstate-guard (mode: setup). Changes are overwritten on the next run.
# Settings come from the setup step's inputs; change those, not this file.
terraform {
  backend "s3" {
    bucket       = "text2agent-terraform-state-eu-west-2"
    key          = "text2agent/production/terraform.tfstate"
    region       = "eu-west-2"
    encrypt      = true
    use_lockfile = true
  }
}
