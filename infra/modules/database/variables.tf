variable "name" {
  description = "Cluster identifier and name prefix (lower-case letters, digits, hyphens)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,50}$", var.name))
    error_message = "name must be 2-51 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "subnet_ids" {
  description = "Private subnets (two availability zones) for the DB subnet group."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids must list at least two subnets in different availability zones."
  }
}

variable "security_group_id" {
  description = "Security group of the cluster (ingress from the Lambda security group only)."
  type        = string
}

variable "engine_version" {
  description = "Aurora PostgreSQL version a new cluster is created with (later changes are ignored: AWS applies minor upgrades, and upgrades are made with the AWS CLI, see README.md). min_capacity = 0 (auto-pause) needs 16.3+, 15.7+, 14.12+ or 13.15+, or any 17."
  type        = string
  default     = "17.6"

  validation {
    condition     = can(regex("^1[3-7]\\.[0-9]+$", var.engine_version))
    error_message = "engine_version must be an Aurora PostgreSQL major.minor version such as 17.6."
  }
}

variable "min_capacity" {
  description = "Minimum ACUs; 0 lets the instance pause when idle."
  type        = number
  default     = 0

  validation {
    condition     = var.min_capacity >= 0 && var.min_capacity <= 256 && floor(var.min_capacity * 2) == var.min_capacity * 2
    error_message = "min_capacity must be 0-256 in steps of 0.5."
  }
}

variable "max_capacity" {
  description = "Maximum ACUs (>= 1; Aurora refuses less with auto-pause)."
  type        = number
  default     = 1

  validation {
    condition     = var.max_capacity >= 1 && var.max_capacity <= 256 && floor(var.max_capacity * 2) == var.max_capacity * 2
    error_message = "max_capacity must be 1-256 in steps of 0.5."
  }
}

variable "seconds_until_auto_pause" {
  description = "Idle seconds before the instance pauses (300-86400; used when min_capacity is 0)."
  type        = number
  default     = 900

  validation {
    condition     = var.seconds_until_auto_pause >= 300 && var.seconds_until_auto_pause <= 86400
    error_message = "seconds_until_auto_pause must be between 300 and 86400."
  }
}

variable "database_name" {
  description = "Database created with the cluster: the Bedrock vector store. RDS allows only letters, digits and underscores."
  type        = string
  default     = "str_kb"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_]{0,62}$", var.database_name))
    error_message = "database_name must start with a letter and contain only letters, digits and underscores (create other names with SQL)."
  }
}

variable "master_username" {
  description = "Master user; its password is generated and rotated by RDS in Secrets Manager."
  type        = string
  default     = "kb_admin"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,15}$", var.master_username)) && !contains(["admin", "postgres", "rdsadmin"], var.master_username)
    error_message = "master_username must be 1-16 lower-case letters, digits or underscores and not a reserved name (admin, postgres, rdsadmin)."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the cluster until this is turned off."
  type        = bool
  default     = true
}

variable "backup_retention_days" {
  description = "Days of automated backups (1-35)."
  type        = number
  default     = 14

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be between 1 and 35."
  }
}

variable "log_retention_days" {
  description = "Days to keep the PostgreSQL log in CloudWatch Logs."
  type        = number
  default     = 365
}

variable "log_kms_key_arn" {
  description = "KMS key ARN that encrypts the cluster's CloudWatch log group."
  type        = string
}
