variable "name" {
  description = "Name of the knowledge base and prefix of its role and data source."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9_-]{0,60}$", var.name))
    error_message = "name must be 1-61 letters, digits, hyphens or underscores."
  }
}

variable "cluster_arn" {
  description = "ARN of the Aurora cluster holding the vector store (Data API on)."
  type        = string
}

variable "credentials_secret_arn" {
  description = "Secrets Manager ARN with the username and password Bedrock connects with."
  type        = string
}

variable "database_name" {
  description = "Database of the vector store."
  type        = string
  default     = "str_kb"
}

variable "table_name" {
  description = "Vector table, schema-qualified, as created by the bootstrap SQL."
  type        = string
  default     = "bedrock_integration.bedrock_kb"
}

variable "embedding_model_id" {
  description = "Bedrock embedding model ID."
  type        = string
  default     = "amazon.titan-embed-text-v2:0"
}

variable "embedding_dimensions" {
  description = "Embedding size; must equal the vector(N) column of the table (Titan v2: 256, 512 or 1024)."
  type        = number
  default     = 1024

  validation {
    condition     = contains([256, 512, 1024], var.embedding_dimensions)
    error_message = "embedding_dimensions must be 256, 512 or 1024 for Titan Text Embeddings v2."
  }
}

variable "documents_bucket_arn" {
  description = "ARN of the S3 bucket the data source reads."
  type        = string
}

variable "kms_key_arns" {
  description = "Customer keys the knowledge base must decrypt with (documents bucket, database secret)."
  type        = list(string)
}

variable "database_ready" {
  description = "Anything that is known only once the cluster instance exists and the schema bootstrap has run (e.g. the bootstrap invocation's result); the knowledge base waits for it."
  type        = string
}
