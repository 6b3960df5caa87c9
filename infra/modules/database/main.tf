data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

# One customer-managed key for the cluster's storage, snapshots and the
# master user secret.
data "aws_iam_policy_document" "key" {
  statement {
    sid       = "AccountAdministersTheKey"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "${var.name}: Aurora storage, snapshots and master secret"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}-database"
  target_key_id = aws_kms_key.this.key_id
}

# The login Bedrock uses for the vector store (role bedrock_user, not the
# master user). Terraform creates it empty; the schema bootstrap generates
# the password, stores it here and sets it on the role, so the password
# never passes through Terraform state.
resource "aws_secretsmanager_secret" "bedrock_user" {
  name                    = "${var.name}/bedrock-user"
  description             = "Aurora login of bedrock_user for the Bedrock knowledge base (written by the schema bootstrap)"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = 7
}

resource "aws_db_subnet_group" "this" {
  name        = var.name
  description = "Private subnets of ${var.name}"
  subnet_ids  = var.subnet_ids
}

# Created before the cluster so it is encrypted and expires; RDS would
# otherwise create it unencrypted and kept forever.
resource "aws_cloudwatch_log_group" "postgresql" {
  name              = "/aws/rds/cluster/${var.name}/postgresql"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
}

resource "aws_rds_cluster" "this" {
  cluster_identifier = var.name
  engine             = "aurora-postgresql"
  engine_mode        = "provisioned"
  engine_version     = var.engine_version
  database_name      = var.database_name

  master_username                     = var.master_username
  manage_master_user_password         = true
  master_user_secret_kms_key_id       = aws_kms_key.this.arn
  iam_database_authentication_enabled = true

  # The RDS Data API: Bedrock and the schema bootstrap use it.
  enable_http_endpoint = true

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [var.security_group_id]

  storage_encrypted = true
  kms_key_id        = aws_kms_key.this.arn

  backup_retention_period = var.backup_retention_days
  preferred_backup_window = "02:00-03:00"
  copy_tags_to_snapshot   = true
  deletion_protection     = var.deletion_protection
  skip_final_snapshot     = false
  # Named for the cluster's creation time: "<name>-final" alone would
  # collide with the snapshot of an earlier destroy of a cluster of the same
  # name, and the second destroy would fail. ignore_changes below keeps the
  # name chosen at creation (Terraform reads it from state at destroy).
  final_snapshot_identifier = "${var.name}-final-${formatdate("YYYYMMDD-hhmmss", timestamp())}"

  enabled_cloudwatch_logs_exports = ["postgresql"]

  serverlessv2_scaling_configuration {
    min_capacity             = var.min_capacity
    max_capacity             = var.max_capacity
    seconds_until_auto_pause = var.min_capacity == 0 ? var.seconds_until_auto_pause : null
  }

  lifecycle {
    # engine_version is the version a new cluster starts at. AWS then
    # applies minor upgrades itself (auto_minor_version_upgrade on the
    # instance); without this, the next plan would try to set the old
    # version again and the apply fails, since RDS cannot downgrade
    # (hashicorp/terraform-provider-aws#45026). Upgrades are done with the
    # AWS CLI: see "Upgrading the database" in README.md.
    ignore_changes = [engine_version, final_snapshot_identifier]
  }

  depends_on = [aws_cloudwatch_log_group.postgresql]
}

# Performance Insights stays off: at 1 ACU there is little to tune, and
# beyond the free 7 days its retention is billed. Turn it on with
# performance_insights_kms_key_id = aws_kms_key.this.arn when needed.
# tfsec:ignore:aws-rds-enable-performance-insights Off on purpose (see above): not needed at 1 ACU, and retention beyond 7 days is billed.
resource "aws_rds_cluster_instance" "this" {
  identifier                 = "${var.name}-1"
  cluster_identifier         = aws_rds_cluster.this.id
  instance_class             = "db.serverless"
  engine                     = aws_rds_cluster.this.engine
  db_subnet_group_name       = aws_db_subnet_group.this.name
  publicly_accessible        = false
  auto_minor_version_upgrade = true
  copy_tags_to_snapshot      = true
  # No engine_version: the instance runs the cluster's version, whatever
  # AWS upgraded it to, so upgrades never show up as a diff here.
}
