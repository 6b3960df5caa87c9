output "cluster_arn" {
  description = "ARN of the Aurora cluster (the Data API's resource ARN)."
  value       = aws_rds_cluster.this.arn
}

output "cluster_id" {
  description = "Identifier of the Aurora cluster."
  value       = aws_rds_cluster.this.id
}

output "cluster_resource_id" {
  description = "Resource ID of the cluster, used in rds-db:connect ARNs for IAM authentication."
  value       = aws_rds_cluster.this.cluster_resource_id
}

output "endpoint" {
  description = "Writer endpoint host name."
  value       = aws_rds_cluster.this.endpoint
}

output "port" {
  description = "PostgreSQL port."
  value       = aws_rds_cluster.this.port
}

output "master_secret_arn" {
  description = "Secrets Manager ARN of the RDS-managed master user secret."
  value       = aws_rds_cluster.this.master_user_secret[0].secret_arn
}

output "kms_key_arn" {
  description = "ARN of the key that encrypts the cluster and its master secret."
  value       = aws_kms_key.this.arn
}

output "instance_id" {
  description = "Identifier of the serverless writer instance; depend on it before using the database."
  value       = aws_rds_cluster_instance.this.id
}

output "database_name" {
  description = "Name of the database created with the cluster (the vector store)."
  value       = aws_rds_cluster.this.database_name
}

output "bedrock_user_secret_arn" {
  description = "Secrets Manager ARN of bedrock_user's login (username and password), filled by the schema bootstrap."
  value       = aws_secretsmanager_secret.bedrock_user.arn
}
