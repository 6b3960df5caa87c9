output "user_pool_id" {
  description = "ID of the Cognito user pool."
  value       = aws_cognito_user_pool.this.id
}

output "user_pool_arn" {
  description = "ARN of the Cognito user pool."
  value       = aws_cognito_user_pool.this.arn
}

output "client_id" {
  description = "ID of the web app client (no secret)."
  value       = aws_cognito_user_pool_client.web.id
}

output "hosted_ui_domain" {
  description = "Host name of the hosted UI."
  value       = "${aws_cognito_user_pool_domain.this.domain}.auth.${data.aws_region.current.region}.amazoncognito.com"
}

output "signup_queue_arn" {
  description = "ARN of the sign-up queue the worker reads."
  value       = aws_sqs_queue.signup.arn
}

output "signup_queue_url" {
  description = "URL of the sign-up queue the trigger writes to."
  value       = aws_sqs_queue.signup.id
}

output "signup_dlq_arn" {
  description = "ARN of the dead-letter queue of sign-ups that kept failing."
  value       = aws_sqs_queue.signup_dlq.arn
}

output "queue_kms_key_arn" {
  description = "ARN of the key that encrypts both queues."
  value       = aws_kms_key.queue.arn
}

output "alarm_topic_arn" {
  description = "SNS topic of the dead-letter alarm; subscribe more endpoints to it."
  value       = aws_sns_topic.alarms.arn
}
