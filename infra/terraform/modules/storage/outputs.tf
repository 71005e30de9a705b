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

output "access_statements" {
  description = "IAM policy statements for the instance roles of docfleet's processes: the bucket's access."
  value       = local.access_statements
}
