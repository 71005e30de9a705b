variable "bucket_name" {
  description = "Globally unique S3 bucket name."
  type        = string
}

variable "abort_incomplete_multipart_days" {
  description = "Days after which parts of an unfinished multipart upload are deleted."
  type        = number
}

variable "cors_allowed_origins" {
  description = "Browser origins allowed to upload straight to the bucket; empty: no CORS rule."
  type        = list(string)
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete a non-empty bucket."
  type        = bool
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
}
