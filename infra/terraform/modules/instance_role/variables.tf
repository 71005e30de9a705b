variable "name" {
  type        = string
  description = "Prefix of the role and instance profile names."
}

variable "policy_name" {
  type        = string
  description = "Name of the inline policy."
}

variable "secret_arns" {
  type        = list(string)
  description = "Secrets Manager secrets the instance may read."
}

variable "extra_statements" {
  type        = list(any)
  description = "More IAM policy statements for the inline policy."
  default     = []
}

variable "tags" {
  type        = map(string)
  description = "Tags for the role."
  default     = {}
}
