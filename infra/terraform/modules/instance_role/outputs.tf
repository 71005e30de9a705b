output "instance_profile_arn" {
  description = "Instance profile to put in a launch template."
  value       = aws_iam_instance_profile.this.arn
}

output "role_name" {
  description = "The role's name."
  value       = aws_iam_role.this.name
}
