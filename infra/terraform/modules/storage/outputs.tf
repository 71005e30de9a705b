output "bucket" {
  description = "S3_BUCKET."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "Bucket ARN."
  value       = aws_s3_bucket.this.arn
}

output "bucket_region" {
  description = "S3_REGION."
  value       = aws_s3_bucket.this.region
}

output "access_key_secret_arn" {
  description = "Secrets Manager secret holding S3_ACCESS_KEY."
  value       = aws_secretsmanager_secret.access_key.arn
}

output "secret_key_secret_arn" {
  description = "Secrets Manager secret holding S3_SECRET_KEY."
  value       = aws_secretsmanager_secret.secret_key.arn
}
