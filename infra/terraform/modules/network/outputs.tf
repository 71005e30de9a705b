output "vpc_id" {
  description = "VPC id."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "VPC CIDR block."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "Public subnets (load balancer, NAT)."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "Private subnets (instances, databases, broker, search)."
  value       = aws_subnet.private[*].id
}

output "alb_security_group_id" {
  description = "Security group of the public load balancer."
  value       = aws_security_group.alb.id
}

output "gateway_security_group_id" {
  description = "Security group of gateway instances."
  value       = aws_security_group.gateway.id
}

output "worker_security_group_id" {
  description = "Security group of worker instances."
  value       = aws_security_group.worker.id
}

output "data_security_group_id" {
  description = "Security group of PostgreSQL, RabbitMQ and OpenSearch."
  value       = aws_security_group.data.id
}
