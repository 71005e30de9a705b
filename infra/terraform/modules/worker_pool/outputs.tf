output "asg_name" {
  description = "Auto Scaling group name."
  value       = aws_autoscaling_group.this.name
}

output "queues" {
  description = "Queues whose backlog scales this pool."
  value       = local.queues
}

output "ollama_url" {
  description = "Internal URL of the pool's Ollama (null unless a GPU pool with expose_ollama)."
  value       = var.gpu && var.expose_ollama ? "http://${aws_lb.ollama[0].dns_name}:${local.ollama_port}" : null
}

output "instance_role_name" {
  description = "IAM role of the instances (attach more policies here)."
  value       = module.role.role_name
}
