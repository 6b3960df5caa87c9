output "knowledge_base_id" {
  description = "ID of the Bedrock knowledge base."
  value       = aws_bedrockagent_knowledge_base.this.id
}

output "knowledge_base_arn" {
  description = "ARN of the Bedrock knowledge base."
  value       = aws_bedrockagent_knowledge_base.this.arn
}

output "data_source_id" {
  description = "ID of the S3 data source (start an ingestion job with it)."
  value       = aws_bedrockagent_data_source.documents.data_source_id
}

output "role_arn" {
  description = "ARN of the role Bedrock assumes for the knowledge base."
  value       = aws_iam_role.this.arn
}
