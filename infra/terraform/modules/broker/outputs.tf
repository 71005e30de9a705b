output "broker_name" {
  description = "Broker name, the `Broker` dimension of AWS/AmazonMQ metrics."
  value       = aws_mq_broker.this.broker_name
}

output "amqps_endpoint" {
  description = "amqps:// endpoint without credentials."
  value       = local.amqps_endpoint
}

output "url_secret_arn" {
  description = "Secrets Manager secret holding AMQP_URL (with credentials)."
  value       = aws_secretsmanager_secret.url.arn
}
