provider "aws" {
  region  = var.aws_region
  profile = var.aws_profile

  default_tags {
    tags = {
      Project     = var.project
      Environment = var.environment
      ManagedBy   = "terraform"
      Source      = "text2agent/tfstate-guard/infra"
    }
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  name          = "${var.project}-${var.environment}"
  account_id    = data.aws_caller_identity.current.account_id
  partition     = data.aws_partition.current.partition
  layer_zip     = "${path.module}/${var.layer_zip_path}"
  tenants_db    = "text2Agent-Tenants"
  tenant_writer = "tenant_writer"
}

# --- shared key for logs and Lambda environments ------------------------------

data "aws_iam_policy_document" "app_key" {
  statement {
    sid       = "AccountAdministersTheKey"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsEncrypts"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${var.aws_region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.aws_region}:${local.account_id}:log-group:*"]
    }
  }
}

resource "aws_kms_key" "app" {
  description             = "${local.name}: CloudWatch logs and Lambda environment variables"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.app_key.json
}

resource "aws_kms_alias" "app" {
  name          = "alias/${local.name}-app"
  target_key_id = aws_kms_key.app.key_id
}

# --- network, storage, database ---------------------------------------------------

module "network" {
  source = "./modules/network"

  name               = local.name
  cidr_block         = var.vpc_cidr
  availability_zones = ["${var.aws_region}a", "${var.aws_region}b"]
  enable_nat_gateway = var.enable_nat_gateway
  log_kms_key_arn    = aws_kms_key.app.arn
  log_retention_days = var.log_retention_days
}

module "storage" {
  source = "./modules/storage"

  name = local.name
}

module "database" {
  source = "./modules/database"

  name                = local.name
  subnet_ids          = module.network.private_subnet_ids
  security_group_id   = module.network.database_security_group_id
  deletion_protection = var.deletion_protection
  log_kms_key_arn     = aws_kms_key.app.arn
  log_retention_days  = var.log_retention_days
}

# --- psycopg2 layer ---------------------------------------------------------------
# Built by tfstate-guard's build-layer mode (the infra workflow's
# build-lambda job) into infra/build/. The zip is byte-for-byte reproducible,
# so its hash, and the published layer version, change only with the pins.

resource "aws_lambda_layer_version" "psycopg2" {
  layer_name               = "${local.name}-psycopg2"
  description              = "psycopg2-binary for Python 3.11 x86_64 (tfstate-guard build-layer)"
  filename                 = local.layer_zip
  source_code_hash         = filebase64sha256(local.layer_zip)
  compatible_runtimes      = ["python3.11"]
  compatible_architectures = ["x86_64"]
}

# --- schema bootstrap ---------------------------------------------------------------

data "aws_iam_policy_document" "db_bootstrap" {
  statement {
    sid = "DataAPI"
    actions = [
      "rds-data:ExecuteStatement",
      "rds-data:BatchExecuteStatement",
      "rds-data:BeginTransaction",
      "rds-data:CommitTransaction",
      "rds-data:RollbackTransaction",
    ]
    resources = [module.database.cluster_arn]
  }

  statement {
    sid       = "MasterSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [module.database.master_secret_arn]
  }

  statement {
    sid       = "BedrockUserSecret"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"]
    resources = [module.database.bedrock_user_secret_arn]
  }

  statement {
    sid       = "SecretsKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [module.database.kms_key_arn]
  }
}

module "db_bootstrap_lambda" {
  source = "./modules/lambda"

  function_name = "${local.name}-db-bootstrap"
  description   = "Creates the databases, pgvector schema, tenant tables and bedrock_user's login (idempotent); invoked by Terraform"
  source_dir    = "${path.module}/lambda/db_bootstrap"
  timeout       = 300
  policy_json   = data.aws_iam_policy_document.db_bootstrap.json
  kms_key_arn   = aws_kms_key.app.arn

  reserved_concurrent_executions = 1
  log_retention_days             = var.log_retention_days

  environment = {
    CLUSTER_ARN             = module.database.cluster_arn
    SECRET_ARN              = module.database.master_secret_arn
    BEDROCK_SECRET_ARN      = module.database.bedrock_user_secret_arn
    RESUME_DEADLINE_SECONDS = "120"
  }
}

# Runs the bootstrap once the writer instance exists, and again whenever its
# code or SQL changes. A failed run (FunctionError) fails the apply.
resource "aws_lambda_invocation" "db_bootstrap" {
  function_name = module.db_bootstrap_lambda.function_name

  input = jsonencode({
    cluster_instance = module.database.instance_id
  })

  triggers = {
    code     = module.db_bootstrap_lambda.source_code_hash
    instance = module.database.instance_id
  }
}

# --- sign-up pipeline: Cognito -> trigger -> SQS -> worker -> database -------------

data "aws_iam_policy_document" "post_confirmation" {
  statement {
    sid       = "QueueSignUps"
    actions   = ["sqs:SendMessage"]
    resources = [module.auth.signup_queue_arn]
  }

  statement {
    sid       = "EncryptForTheQueue"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [module.auth.queue_kms_key_arn]
  }
}

module "post_confirmation_lambda" {
  source = "./modules/lambda"

  function_name = "${local.name}-post-confirmation"
  description   = "Cognito post-confirmation: queues confirmed sign-ups (never waits for the database)"
  source_dir    = "${path.module}/lambda/post_confirmation"
  timeout       = 5
  memory_size   = 256
  policy_json   = data.aws_iam_policy_document.post_confirmation.json
  kms_key_arn   = aws_kms_key.app.arn

  log_retention_days = var.log_retention_days

  environment = {
    SIGNUP_QUEUE_URL = module.auth.signup_queue_url
  }
}

module "auth" {
  source = "./modules/auth"

  name                            = local.name
  domain_prefix                   = coalesce(var.cognito_domain_prefix, "${local.name}-${local.account_id}")
  callback_urls                   = var.callback_urls
  logout_urls                     = var.logout_urls
  post_confirmation_lambda_arn    = module.post_confirmation_lambda.function_arn
  post_confirmation_function_name = module.post_confirmation_lambda.function_name
  worker_timeout_seconds          = 60
  deletion_protection             = var.deletion_protection
  alarm_email                     = var.alarm_email
  ses_identity_arn                = var.ses_identity_arn
  email_from                      = var.email_from
  email_reply_to                  = var.email_reply_to
}

data "aws_iam_policy_document" "tenant_worker" {
  statement {
    sid = "ReadSignUps"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
      "sqs:ChangeMessageVisibility",
    ]
    resources = [module.auth.signup_queue_arn]
  }

  statement {
    sid       = "DecryptSignUps"
    actions   = ["kms:Decrypt"]
    resources = [module.auth.queue_kms_key_arn]
  }

  # IAM database authentication as tenant_writer: no password anywhere.
  statement {
    sid       = "ConnectAsTenantWriter"
    actions   = ["rds-db:connect"]
    resources = ["arn:${local.partition}:rds-db:${var.aws_region}:${local.account_id}:dbuser:${module.database.cluster_resource_id}/${local.tenant_writer}"]
  }
}

module "tenant_worker_lambda" {
  source = "./modules/lambda"

  function_name      = "${local.name}-tenant-worker"
  description        = "Writes confirmed sign-ups to text2Agent-Tenants, retrying while Aurora resumes"
  source_dir         = "${path.module}/lambda/tenant_worker"
  timeout            = 60
  layers             = [aws_lambda_layer_version.psycopg2.arn]
  subnet_ids         = module.network.private_subnet_ids
  security_group_ids = [module.network.lambda_security_group_id]
  policy_json        = data.aws_iam_policy_document.tenant_worker.json
  kms_key_arn        = aws_kms_key.app.arn

  # A 1-ACU database: a few connections at a time are plenty.
  reserved_concurrent_executions = 2
  log_retention_days             = var.log_retention_days

  environment = {
    DB_HOST                     = module.database.endpoint
    DB_PORT                     = tostring(module.database.port)
    DB_NAME                     = local.tenants_db
    DB_USER                     = local.tenant_writer
    DB_IAM_AUTH                 = "true"
    DB_SSLMODE                  = "require"
    DB_CONNECT_TIMEOUT_SECONDS  = "20"
    DB_CONNECT_DEADLINE_SECONDS = "45"
  }
}

resource "aws_lambda_event_source_mapping" "tenant_worker" {
  event_source_arn        = module.auth.signup_queue_arn
  function_name           = module.tenant_worker_lambda.function_arn
  batch_size              = 10
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = 2
  }

  # Messages are written only once the tables exist.
  depends_on = [aws_lambda_invocation.db_bootstrap]
}

# --- knowledge base -------------------------------------------------------------------

module "knowledge_base" {
  source = "./modules/knowledge_base"

  name                   = "${local.name}-kb"
  cluster_arn            = module.database.cluster_arn
  credentials_secret_arn = module.database.bedrock_user_secret_arn
  database_name          = module.database.database_name
  embedding_dimensions   = 1024
  documents_bucket_arn   = module.storage.documents_bucket_arn
  kms_key_arns           = [module.storage.kms_key_arn, module.database.kms_key_arn]

  # The instance must exist and the bootstrap must have created the table
  # and its indexes before Bedrock validates the vector store.
  database_ready = jsonencode({
    instance  = module.database.instance_id
    bootstrap = aws_lambda_invocation.db_bootstrap.result
  })
}

# --- knowledge-base sync ----------------------------------------------------------------
# Invoked after documents are uploaded (aws lambda invoke ...): wakes the
# paused vector store through the Data API, retrying DatabaseResumingException,
# then starts the data source's ingestion job and waits for it.

data "aws_iam_policy_document" "kb_sync" {
  statement {
    sid       = "WakeTheVectorStore"
    actions   = ["rds-data:ExecuteStatement"]
    resources = [module.database.cluster_arn]
  }

  statement {
    sid       = "BedrockUserSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [module.database.bedrock_user_secret_arn]
  }

  statement {
    sid       = "SecretsKey"
    actions   = ["kms:Decrypt"]
    resources = [module.database.kms_key_arn]
  }

  statement {
    sid       = "Ingest"
    actions   = ["bedrock:StartIngestionJob", "bedrock:GetIngestionJob"]
    resources = [module.knowledge_base.knowledge_base_arn]
  }
}

module "kb_sync_lambda" {
  source = "./modules/lambda"

  function_name = "${local.name}-kb-sync"
  description   = "Wakes the vector store (retrying while Aurora resumes), then runs and waits for the knowledge base's ingestion job"
  source_dir    = "${path.module}/lambda/kb_sync"
  timeout       = 900
  policy_json   = data.aws_iam_policy_document.kb_sync.json
  kms_key_arn   = aws_kms_key.app.arn

  reserved_concurrent_executions = 1
  log_retention_days             = var.log_retention_days

  environment = {
    CLUSTER_ARN             = module.database.cluster_arn
    SECRET_ARN              = module.database.bedrock_user_secret_arn
    DATABASE_NAME           = module.database.database_name
    KNOWLEDGE_BASE_ID       = module.knowledge_base.knowledge_base_id
    DATA_SOURCE_ID          = module.knowledge_base.data_source_id
    RESUME_DEADLINE_SECONDS = "120"
    WAIT_SECONDS            = "840"
  }
}
