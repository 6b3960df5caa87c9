data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  account_id          = data.aws_caller_identity.current.account_id
  region              = data.aws_region.current.region
  partition           = data.aws_partition.current.partition
  embedding_model_arn = "arn:${local.partition}:bedrock:${local.region}::foundation-model/${var.embedding_model_id}"
}

# Bedrock checks the table, its columns and its indexes when the knowledge
# base is created: it must wait for the instance and the bootstrap SQL.
resource "terraform_data" "database_ready" {
  input = var.database_ready
}

data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["bedrock.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:bedrock:${local.region}:${local.account_id}:knowledge-base/*"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.name}-bedrock-kb"
  assume_role_policy = data.aws_iam_policy_document.trust.json
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "Embed"
    actions   = ["bedrock:InvokeModel"]
    resources = [local.embedding_model_arn]
  }

  statement {
    sid       = "DescribeCluster"
    actions   = ["rds:DescribeDBClusters"]
    resources = [var.cluster_arn]
  }

  statement {
    sid       = "DataAPI"
    actions   = ["rds-data:ExecuteStatement", "rds-data:BatchExecuteStatement"]
    resources = [var.cluster_arn]
  }

  statement {
    sid       = "DatabaseCredentials"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.credentials_secret_arn]
  }

  statement {
    sid       = "ListDocuments"
    actions   = ["s3:ListBucket"]
    resources = [var.documents_bucket_arn]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "ReadDocuments"
    actions   = ["s3:GetObject"]
    resources = ["${var.documents_bucket_arn}/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "DecryptWithCustomerKeys"
    actions   = ["kms:Decrypt"]
    resources = var.kms_key_arns
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "knowledge-base"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

resource "aws_bedrockagent_knowledge_base" "this" {
  name        = var.name
  description = "Text2Agent documents on Aurora PostgreSQL (pgvector)"
  role_arn    = aws_iam_role.this.arn

  knowledge_base_configuration {
    type = "VECTOR"

    vector_knowledge_base_configuration {
      embedding_model_arn = local.embedding_model_arn

      embedding_model_configuration {
        bedrock_embedding_model_configuration {
          dimensions          = var.embedding_dimensions
          embedding_data_type = "FLOAT32"
        }
      }
    }
  }

  storage_configuration {
    type = "RDS"

    rds_configuration {
      resource_arn           = var.cluster_arn
      credentials_secret_arn = var.credentials_secret_arn
      database_name          = var.database_name
      table_name             = var.table_name

      field_mapping {
        primary_key_field     = "id"
        vector_field          = "embedding"
        text_field            = "chunks"
        metadata_field        = "metadata"
        custom_metadata_field = "custom_metadata"
      }
    }
  }

  depends_on = [
    aws_iam_role_policy.this,
    terraform_data.database_ready,
  ]
}

resource "aws_bedrockagent_data_source" "documents" {
  name              = "${var.name}-documents"
  knowledge_base_id = aws_bedrockagent_knowledge_base.this.id

  # Keep the vectors if the data source is removed; a re-sync rebuilds them.
  data_deletion_policy = "RETAIN"

  data_source_configuration {
    type = "S3"

    s3_configuration {
      bucket_arn = var.documents_bucket_arn
    }
  }
}
