variable "name" {
  description = "Name prefix of the user pool, client and queues."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,40}$", var.name))
    error_message = "name must be 2-41 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "domain_prefix" {
  description = "Hosted-UI domain prefix (<prefix>.auth.<region>.amazoncognito.com); unique in the region, must not contain aws, amazon or cognito."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", var.domain_prefix)) && !can(regex("aws|amazon|cognito", var.domain_prefix))
    error_message = "domain_prefix must be lower-case letters, digits and hyphens (1-63), without the words aws, amazon or cognito."
  }
}

variable "callback_urls" {
  description = "URLs the hosted UI may redirect to after sign-in (HTTPS, or http://localhost for development)."
  type        = list(string)

  validation {
    condition     = length(var.callback_urls) > 0 && alltrue([for u in var.callback_urls : can(regex("^(https://|http://localhost(:[0-9]+)?/)", u))])
    error_message = "callback_urls must be HTTPS URLs (or http://localhost/...)."
  }
}

variable "logout_urls" {
  description = "URLs the hosted UI may redirect to after sign-out."
  type        = list(string)

  validation {
    condition     = alltrue([for u in var.logout_urls : can(regex("^(https://|http://localhost(:[0-9]+)?/)", u))])
    error_message = "logout_urls must be HTTPS URLs (or http://localhost/...)."
  }
}

variable "post_confirmation_lambda_arn" {
  description = "ARN of the post-confirmation trigger function."
  type        = string
}

variable "post_confirmation_function_name" {
  description = "Name of the post-confirmation trigger function (for its invoke permission)."
  type        = string
}

variable "worker_timeout_seconds" {
  description = "Timeout of the function reading the sign-up queue; the queue's visibility timeout is six times it."
  type        = number
  default     = 60
}

variable "max_receive_count" {
  description = "Deliveries of a sign-up before it moves to the dead-letter queue."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be between 1 and 1000."
  }
}

variable "deletion_protection" {
  description = "Protect the user pool from deletion."
  type        = bool
  default     = true
}

variable "alarm_email" {
  description = "E-mail address told when sign-ups land in the dead-letter queue (confirm the subscription mail); null for none."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_email == null || can(regex("^[^@[:space:]]+@[^@[:space:]]+\\.[^@[:space:]]+$", var.alarm_email))
    error_message = "alarm_email must be an e-mail address such as ops@example.com, or null."
  }
}

variable "ses_identity_arn" {
  description = "ARN of a verified SES identity (address or domain) Cognito sends the pool's mails through; null keeps Cognito's own sender, limited to a few mails a day."
  type        = string
  default     = null

  validation {
    condition     = var.ses_identity_arn == null || can(regex("^arn:aws[a-z-]*:ses:[a-z0-9-]+:[0-9]{12}:identity/.+$", var.ses_identity_arn))
    error_message = "ses_identity_arn must be an SES identity ARN such as arn:aws:ses:eu-west-2:123456789012:identity/example.com, or null."
  }
}

variable "email_from" {
  description = "From address of the pool's mails when ses_identity_arn is set, e.g. \"Text2Agent <no-reply@example.com>\" (must belong to the identity); null uses the identity's address."
  type        = string
  default     = null
}

variable "email_reply_to" {
  description = "Reply-To address of the pool's mails when ses_identity_arn is set; null for none."
  type        = string
  default     = null
}
