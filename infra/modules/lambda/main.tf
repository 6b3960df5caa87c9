data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  in_vpc     = length(var.subnet_ids) > 0
  account_id = data.aws_caller_identity.current.account_id
  ec2_arn    = "arn:${data.aws_partition.current.partition}:ec2:${data.aws_region.current.region}:${local.account_id}"
  # Active X-Ray tracing only outside a VPC: in the private subnets the
  # function's security group allows PostgreSQL to the database and nothing
  # else, so trace segments could not reach the X-Ray endpoint (no
  # interface endpoint, no HTTPS egress). PassThrough sends nothing.
  tracing_mode = local.in_vpc ? "PassThrough" : "Active"
}

data "archive_file" "code" {
  type        = "zip"
  source_dir  = var.source_dir
  output_path = "${path.root}/.terraform/lambda/${var.function_name}.zip"
  # Glob patterns need archive >= 2.5.
  excludes = ["**/__pycache__/**", "**/*.pyc", "tests/**"]
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.function_name}-lambda"
  assume_role_policy = data.aws_iam_policy_document.trust.json
}

data "aws_iam_policy_document" "logs" {
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  # The environment variables are encrypted with this key.
  statement {
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "logs" {
  name   = "write-own-logs"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.logs.json
}

resource "aws_iam_role_policy" "function" {
  name   = "function"
  role   = aws_iam_role.this.id
  policy = var.policy_json
}

# Network interfaces in the VPC, inline instead of AWS's managed
# AWSLambdaVPCAccessExecutionRole (which also lets the function create and
# write to any log group): Lambda creates, reuses and deletes the function's
# network interfaces with these actions, and only in the function's own
# subnets and security groups.
data "aws_iam_policy_document" "vpc" {
  count = local.in_vpc ? 1 : 0

  statement {
    sid     = "CreateInterfacesInOwnSubnets"
    actions = ["ec2:CreateNetworkInterface"]
    resources = concat(
      [for id in var.subnet_ids : "${local.ec2_arn}:subnet/${id}"],
      [for id in var.security_group_ids : "${local.ec2_arn}:security-group/${id}"],
    )
  }

  statement {
    sid     = "OwnInterfacesOnly"
    actions = ["ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]
    # tfsec:ignore:aws-iam-no-policy-wildcards An interface has no ID before Lambda creates it; the ec2:Subnet condition limits these actions to interfaces in the function's own subnets.
    resources = ["${local.ec2_arn}:network-interface/*"]

    condition {
      test     = "ArnEquals"
      variable = "ec2:Subnet"
      values   = [for id in var.subnet_ids : "${local.ec2_arn}:subnet/${id}"]
    }
  }

  statement {
    sid     = "DescribeInterfaces"
    actions = ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"]
    # tfsec:ignore:aws-iam-no-policy-wildcards EC2 Describe actions support no resource-level permissions: "*" is the only resource they accept.
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "vpc" {
  count = local.in_vpc ? 1 : 0

  name   = "manage-vpc-interfaces"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.vpc[0].json
}

# X-Ray (tracing mode Active, outside the VPC only): AWS's managed
# write-only policy, because xray:PutTraceSegments has no resource-level
# permissions.
resource "aws_iam_role_policy_attachment" "xray" {
  count = local.tracing_mode == "Active" ? 1 : 0

  role       = aws_iam_role.this.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"
}

resource "aws_lambda_function" "this" {
  function_name    = var.function_name
  description      = var.description
  role             = aws_iam_role.this.arn
  runtime          = var.runtime
  handler          = var.handler
  architectures    = ["x86_64"]
  filename         = data.archive_file.code.output_path
  source_code_hash = data.archive_file.code.output_base64sha256
  timeout          = var.timeout
  memory_size      = var.memory_size
  layers           = var.layers
  kms_key_arn      = var.kms_key_arn

  reserved_concurrent_executions = var.reserved_concurrent_executions

  environment {
    variables = var.environment
  }

  dynamic "vpc_config" {
    for_each = local.in_vpc ? [1] : []

    content {
      subnet_ids         = var.subnet_ids
      security_group_ids = var.security_group_ids
    }
  }

  tracing_config {
    mode = local.tracing_mode
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.this.name
  }

  depends_on = [
    aws_iam_role_policy.logs,
    aws_iam_role_policy.vpc,
    aws_iam_role_policy_attachment.xray,
  ]
}
