output "vpc_id" {
  description = "ID of the VPC."
  value       = module.network.vpc_id
}

output "cluster_arn" {
  description = "ARN of the Aurora cluster."
  value       = module.database.cluster_arn
}

output "cluster_endpoint" {
  description = "Writer endpoint of the Aurora cluster (reachable from the private subnets only)."
  value       = module.database.endpoint
}

output "master_secret_arn" {
  description = "Secrets Manager ARN of the RDS-managed master user secret."
  value       = module.database.master_secret_arn
}

output "user_pool_id" {
  description = "Cognito user pool ID."
  value       = module.auth.user_pool_id
}

output "user_pool_client_id" {
  description = "Cognito app client ID for the web app."
  value       = module.auth.client_id
}

output "hosted_ui_domain" {
  description = "Cognito hosted UI host name."
  value       = module.auth.hosted_ui_domain
}

output "signup_dlq_arn" {
  description = "Dead-letter queue of sign-ups the worker could not write: watch it."
  value       = module.auth.signup_dlq_arn
}

output "alarm_topic_arn" {
  description = "SNS topic told when sign-ups land in the dead-letter queue."
  value       = module.auth.alarm_topic_arn
}

output "documents_bucket" {
  description = "Bucket to upload knowledge-base documents to."
  value       = module.storage.documents_bucket_name
}

output "knowledge_base_id" {
  description = "Bedrock knowledge base ID."
  value       = module.knowledge_base.knowledge_base_id
}

output "knowledge_base_data_source_id" {
  description = "Data source ID for aws bedrock-agent start-ingestion-job."
  value       = module.knowledge_base.data_source_id
}

output "psycopg2_layer_arn" {
  description = "Published psycopg2 layer version ARN."
  value       = aws_lambda_layer_version.psycopg2.arn
}

output "kb_sync_function_name" {
  description = "Lambda that wakes the database and syncs the knowledge base: aws lambda invoke --function-name <this> out.json."
  value       = module.kb_sync_lambda.function_name
}
