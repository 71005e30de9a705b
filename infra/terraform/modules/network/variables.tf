variable "name" {
  description = "Prefix for resource names."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC; subnets are /20s carved out of it."
  type        = string
}

variable "az_count" {
  description = "Availability zones to spread subnets over."
  type        = number
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all AZs (cheaper) instead of one per AZ (survives an AZ outage)."
  type        = bool
}

variable "alb_ingress_cidrs" {
  description = "CIDR blocks allowed to reach the public load balancer."
  type        = list(string)
}

variable "metrics_ingress_cidrs" {
  description = "CIDR blocks allowed to scrape /metrics and /health on workers and gateways (Prometheus)."
  type        = list(string)
}

variable "gateway_port" {
  description = "Port the gateway listens on."
  type        = number
}

variable "metrics_port" {
  description = "Port the workers expose /health and /metrics on (METRICS_PORT)."
  type        = number
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
}
