variable "name" {
  description = "Prefix for resource names; also the Auto Scaling group name."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the target group."
  type        = string
}

variable "public_subnet_ids" {
  description = "Subnets of the internet-facing load balancer."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Subnets the gateway instances launch into."
  type        = list(string)
}

variable "alb_security_group_ids" {
  description = "Security groups of the load balancer."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the gateway instances."
  type        = list(string)
}

variable "ami_ssm_parameter" {
  description = "SSM public parameter naming the AMI (Amazon Linux 2023)."
  type        = string
}

variable "instance_type" {
  description = "Gateway instance type."
  type        = string
}

variable "min_size" {
  description = "Fewest gateways."
  type        = number
}

variable "max_size" {
  description = "Most gateways."
  type        = number
}

variable "port" {
  description = "Port the gateway listens on (PORT)."
  type        = number
}

variable "certificate_arn" {
  description = "ACM certificate for HTTPS on the load balancer; empty: plain HTTP on port 80."
  type        = string
}

variable "public_url" {
  description = "URL clients reach the gateway at; empty: the load balancer's own DNS name."
  type        = string
}

variable "image" {
  description = "Container image of docfleet (ENTRYPOINT: the docfleet CLI)."
  type        = string
}

variable "environment" {
  description = "Plain environment of the gateway."
  type        = map(string)
}

variable "secret_environment" {
  description = "Environment variable name => Secrets Manager secret ARN, read at boot."
  type        = map(string)
}

variable "storage_statements" {
  description = "IAM statements granting the gateways' instance role the bucket's access (modules/storage)."
  type        = list(any)
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
}
