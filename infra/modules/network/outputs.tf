output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "IPv4 CIDR of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "IDs of the public subnets, in availability_zones order."
  value       = [for az in var.availability_zones : aws_subnet.public[az].id]
}

output "private_subnet_ids" {
  description = "IDs of the private subnets, in availability_zones order."
  value       = [for az in var.availability_zones : aws_subnet.private[az].id]
}

output "lambda_security_group_id" {
  description = "Security group for Lambda functions that use the database."
  value       = aws_security_group.lambda.id
}

output "database_security_group_id" {
  description = "Security group of the Aurora cluster."
  value       = aws_security_group.database.id
}

output "nat_gateway_public_ip" {
  description = "Public IP of the NAT gateway (null without one): the address private subnets appear from."
  value       = var.enable_nat_gateway ? aws_eip.nat[0].public_ip : null
}
