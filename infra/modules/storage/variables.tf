variable "name" {
  description = "Name prefix; bucket names are <name>-documents-<account id> and <name>-access-logs-<account id>."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be 2-31 lower-case letters, digits or hyphens (bucket names are limited to 63 characters)."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days to keep a document version after it was replaced or deleted."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be at least 1."
  }
}

variable "access_log_expiration_days" {
  description = "Days to keep S3 server access logs."
  type        = number
  default     = 365

  validation {
    condition     = var.access_log_expiration_days >= 1
    error_message = "access_log_expiration_days must be at least 1."
  }
}
