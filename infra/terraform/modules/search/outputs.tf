output "url" {
  description = "OPENSEARCH_URL (https, VPC endpoint)."
  value       = "https://${aws_opensearch_domain.this.endpoint}"
}

output "username" {
  description = "OPENSEARCH_USERNAME (the fine-grained access control master user)."
  value       = local.username
}

output "password_secret_arn" {
  description = "Secrets Manager secret holding OPENSEARCH_PASSWORD."
  value       = aws_secretsmanager_secret.password.arn
}
