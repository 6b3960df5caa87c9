output "documents_bucket_name" {
  description = "Name of the documents bucket (the knowledge base's S3 data source)."
  value       = aws_s3_bucket.documents.bucket
}

output "documents_bucket_arn" {
  description = "ARN of the documents bucket."
  value       = aws_s3_bucket.documents.arn
}

output "kms_key_arn" {
  description = "ARN of the key that encrypts the documents bucket."
  value       = aws_kms_key.documents.arn
}

output "access_logs_bucket_name" {
  description = "Name of the bucket receiving S3 server access logs."
  value       = aws_s3_bucket.access_logs.bucket
}
