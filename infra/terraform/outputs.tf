output "gateway_url" {
  description = "GraphQL endpoint base URL (append /graphql); DOCFLEET_ENDPOINT for the CLI."
  value       = module.gateway.url
}

output "gateway_alb_dns_name" {
  description = "Load balancer DNS name (target of your domain's alias record)."
  value       = module.gateway.alb_dns_name
}

output "bucket" {
  description = "S3 bucket of uploads and artifacts."
  value       = module.storage.bucket
}

output "database_endpoint" {
  description = "RDS PostgreSQL host:port (DATABASE_URL is in Secrets Manager)."
  value       = module.database.endpoint
}

output "database_url_secret_arn" {
  description = "Secrets Manager secret holding DATABASE_URL (for `docfleet migrate` from a bastion)."
  value       = module.database.url_secret_arn
}

output "amqps_endpoint" {
  description = "Amazon MQ amqps:// endpoint (AMQP_URL with credentials is in Secrets Manager)."
  value       = module.broker.amqps_endpoint
}

output "opensearch_url" {
  description = "OPENSEARCH_URL (VPC only)."
  value       = module.search.url
}

output "ollama_url" {
  description = "Internal load balancer in front of the GPU pool's Ollama."
  value       = module.gpu_pool.ollama_url
}

output "gateway_asg_name" {
  description = "Auto Scaling group of the gateways."
  value       = module.gateway.asg_name
}

output "cpu_pool_asg_name" {
  description = "Auto Scaling group of the CPU workers (parse, index)."
  value       = module.cpu_pool.asg_name
}

output "gpu_pool_asg_name" {
  description = "Auto Scaling group of the GPU workers (understand, embed)."
  value       = module.gpu_pool.asg_name
}

output "scaling_queues" {
  description = "Queues whose backlog scales each pool."
  value = {
    cpu = module.cpu_pool.queues
    gpu = module.gpu_pool.queues
  }
}
