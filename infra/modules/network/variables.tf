variable "name" {
  description = "Name prefix of every resource (e.g. text2agent-production)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,40}$", var.name))
    error_message = "name must be 2-41 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "cidr_block" {
  description = "IPv4 CIDR of the VPC; /16 to /20, split into /24-style subnets with cidrsubnet."
  type        = string

  validation {
    condition     = can(cidrhost(var.cidr_block, 0)) && tonumber(split("/", var.cidr_block)[1]) >= 16 && tonumber(split("/", var.cidr_block)[1]) <= 20
    error_message = "cidr_block must be an IPv4 CIDR between /16 and /20, e.g. 10.20.0.0/16."
  }
}

variable "availability_zones" {
  description = "Exactly two availability zones (one public and one private subnet each)."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) == 2 && length(distinct(var.availability_zones)) == 2
    error_message = "availability_zones must name two different zones, e.g. [\"eu-west-2a\", \"eu-west-2b\"]."
  }
}

variable "enable_nat_gateway" {
  description = "Create one NAT gateway (in the first public subnet) for outbound internet from the private subnets. Costs per hour while it exists."
  type        = bool
  default     = true
}

variable "log_kms_key_arn" {
  description = "KMS key ARN that encrypts the VPC flow log group."
  type        = string
}

variable "log_retention_days" {
  description = "Days to keep VPC flow logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, ...)."
  }
}

variable "database_port" {
  description = "TCP port of the database the Lambda security group may reach."
  type        = number
  default     = 5432
}
