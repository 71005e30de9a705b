variable "name" {
  description = "OpenSearch domain name (3-28 lowercase characters)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets; the domain uses as many as it has instances, at most three."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups attached to the domain's VPC endpoint."
  type        = list(string)
}

variable "engine_version" {
  description = "e.g. OpenSearch_2.17 (hybrid search pipelines need 2.10 or newer)."
  type        = string
}

variable "instance_type" {
  description = "Data node instance type, e.g. r6g.large.search."
  type        = string
}

variable "instance_count" {
  description = "Data nodes."
  type        = number
}

variable "volume_size_gb" {
  description = "EBS volume per data node."
  type        = number
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
}
