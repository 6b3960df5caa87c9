variable "function_name" {
  description = "Name of the function (also of its role and log group)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.function_name))
    error_message = "function_name must be 1-64 letters, digits, hyphens or underscores."
  }
}

variable "description" {
  description = "What the function does."
  type        = string
}

variable "source_dir" {
  description = "Directory packaged as the function's code (handler.py, sql/); __pycache__ and tests are left out."
  type        = string
}

variable "handler" {
  description = "Entry point, module.function."
  type        = string
  default     = "handler.handler"
}

variable "runtime" {
  description = "Lambda runtime."
  type        = string
  default     = "python3.11"

  validation {
    condition     = can(regex("^python3\\.(1[1-9])$", var.runtime))
    error_message = "runtime must be python3.11 or newer (the psycopg2 layer is built for 3.11)."
  }
}

variable "timeout" {
  description = "Timeout in seconds."
  type        = number
  default     = 30

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900
    error_message = "timeout must be between 1 and 900 seconds."
  }
}

variable "memory_size" {
  description = "Memory in MB."
  type        = number
  default     = 256

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "memory_size must be between 128 and 10240 MB."
  }
}

variable "environment" {
  description = "Environment variables (no secrets: they are visible to anyone who can read the function)."
  type        = map(string)
  default     = {}
}

variable "layers" {
  description = "Layer version ARNs."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.layers) <= 5
    error_message = "A function can use at most 5 layers."
  }
}

variable "subnet_ids" {
  description = "Private subnets to run in; empty runs outside the VPC."
  type        = list(string)
  default     = []
}

variable "security_group_ids" {
  description = "Security groups when subnet_ids is set."
  type        = list(string)
  default     = []
}

variable "policy_json" {
  description = "IAM policy document (JSON) with exactly what the function may do besides writing its own logs."
  type        = string
}

variable "reserved_concurrent_executions" {
  description = "Concurrency reserved for (and capping) the function; -1 for none."
  type        = number
  default     = -1
}

variable "kms_key_arn" {
  description = "KMS key ARN encrypting the function's environment variables and log group."
  type        = string
}

variable "log_retention_days" {
  description = "Days to keep the function's logs."
  type        = number
  default     = 365
}
