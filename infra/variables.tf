variable "aws_region" {
  description = "AWS region of the stack."
  type        = string
  default     = "eu-west-2"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.aws_region))
    error_message = "aws_region must be a region name such as eu-west-2."
  }
}

variable "aws_profile" {
  description = "Named AWS CLI profile for local runs (terraform plan -var=\"aws_profile=m3\"); null in CI, where OIDC credentials come from the environment."
  type        = string
  default     = null
}

variable "project" {
  description = "Project name: the first part of every resource name."
  type        = string
  default     = "text2agent"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,15}$", var.project))
    error_message = "project must be 2-16 lower-case letters or digits, starting with a letter."
  }
}

variable "environment" {
  description = "Environment name: the second part of every resource name."
  type        = string
  default     = "production"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,11}$", var.environment))
    error_message = "environment must be 2-12 lower-case letters or digits, starting with a letter."
  }
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC."
  type        = string
  default     = "10.20.0.0/16"
}

variable "enable_nat_gateway" {
  description = "One NAT gateway for the private subnets' outbound internet (about 0.05 USD per hour plus data)."
  type        = bool
  default     = true
}

variable "layer_zip_path" {
  description = "psycopg2 layer zip built by tfstate-guard's build-layer mode, relative to this directory. The infra workflow builds it to infra/build/psycopg2-layer.zip."
  type        = string
  default     = "build/psycopg2-layer.zip"

  validation {
    condition     = endswith(var.layer_zip_path, ".zip") && !startswith(var.layer_zip_path, "/")
    error_message = "layer_zip_path must be a relative path to a .zip file, e.g. build/psycopg2-layer.zip."
  }
}

variable "cognito_domain_prefix" {
  description = "Hosted-UI domain prefix; null uses <project>-<environment>-<account id>."
  type        = string
  default     = null
}

variable "callback_urls" {
  description = "Where the hosted UI may send users after sign-in."
  type        = list(string)
  default     = ["http://localhost:3000/auth/callback"]
}

variable "logout_urls" {
  description = "Where the hosted UI may send users after sign-out."
  type        = list(string)
  default     = ["http://localhost:3000/"]
}

variable "deletion_protection" {
  description = "Protect the database and the user pool from deletion; turn off (and apply) before a destroy."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Days to keep CloudWatch logs (Lambda, flow logs, PostgreSQL)."
  type        = number
  default     = 365
}

variable "alarm_email" {
  description = "E-mail address told when sign-ups land in the dead-letter queue; null for none (subscribe to the alarm topic yourself)."
  type        = string
  default     = null
}

variable "ses_identity_arn" {
  description = "Verified SES identity (ARN) Cognito sends sign-up and password mails through; null (the default) keeps Cognito's built-in sender, which allows only a few mails a day per pool. See README.md, \"E-mail\"."
  type        = string
  default     = null
}

variable "email_from" {
  description = "From address of Cognito's mails with ses_identity_arn, e.g. \"Text2Agent <no-reply@example.com>\"; null uses the identity's address."
  type        = string
  default     = null
}

variable "email_reply_to" {
  description = "Reply-To address of Cognito's mails with ses_identity_arn; null for none."
  type        = string
  default     = null
}
