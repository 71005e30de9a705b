variable "name" {
  description = "Broker name; also the `Broker` dimension of its CloudWatch metrics."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (one for SINGLE_INSTANCE, several for CLUSTER_MULTI_AZ)."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups attached to the broker."
  type        = list(string)
}

variable "instance_type" {
  description = "Amazon MQ host instance type, e.g. mq.m5.large."
  type        = string
}

variable "engine_version" {
  description = "RabbitMQ engine version (quorum queues need 3.13 or newer)."
  type        = string
}

variable "deployment_mode" {
  description = "SINGLE_INSTANCE or CLUSTER_MULTI_AZ (three nodes; quorum queues replicate over them)."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
}
