variable "region" {
  description = "AWS region, e.g. eu-west-1."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like eu-west-1 or us-gov-west-1."
  }
}

variable "name" {
  description = "Deployment name: prefix of every resource name (lowercase, 3-20 characters)."
  type        = string
  default     = "docfleet"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,19}$", var.name))
    error_message = "name must be 3-20 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC (a /16 to /20; subnets are carved out of it)."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) <= 20
    error_message = "vpc_cidr must be a CIDR block of /20 or larger."
  }
}

variable "az_count" {
  description = "Availability zones used (the load balancer needs at least two)."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 6
    error_message = "az_count must be between 2 and 6."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for the whole VPC (cheaper) instead of one per AZ."
  type        = bool
  default     = true
}

variable "alb_ingress_cidrs" {
  description = "Who may reach the gateway's load balancer."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = alltrue([for c in var.alb_ingress_cidrs : can(cidrhost(c, 0))])
    error_message = "alb_ingress_cidrs must be CIDR blocks."
  }
}

variable "metrics_ingress_cidrs" {
  description = "Extra CIDR blocks (besides the VPC) allowed to scrape /metrics on gateways and workers."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.metrics_ingress_cidrs : can(cidrhost(c, 0))])
    error_message = "metrics_ingress_cidrs must be CIDR blocks."
  }
}

variable "certificate_arn" {
  description = "ACM certificate for HTTPS on the load balancer; empty: HTTP only (testing)."
  type        = string
  default     = ""

  validation {
    condition     = var.certificate_arn == "" || can(regex("^arn:aws[a-z-]*:acm:", var.certificate_arn))
    error_message = "certificate_arn must be empty or an ACM certificate ARN."
  }
}

variable "public_url" {
  description = "URL clients reach the gateway at (your domain); empty: the load balancer's DNS name."
  type        = string
  default     = ""

  validation {
    condition     = var.public_url == "" || can(regex("^https?://[^/]+$", var.public_url))
    error_message = "public_url must be empty or http(s)://host without a path."
  }
}

variable "gateway_image" {
  description = "Image built from docker/gateway.Dockerfile (docfleet-gateway; ENTRYPOINT: the docfleet CLI), e.g. <account>.dkr.ecr.<region>.amazonaws.com/docfleet-gateway:1.0."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][^\\s]*$", var.gateway_image))
    error_message = "gateway_image must be an image reference without spaces."
  }
}

variable "worker_image" {
  description = "Image built from docker/worker.Dockerfile (docfleet-worker), for CPU and GPU pools alike: GPU nodes run Ollama on the host. Not docfleet-worker-gpu, whose entrypoint starts an Ollama of its own."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][^\\s]*$", var.worker_image))
    error_message = "worker_image must be an image reference without spaces."
  }
}

variable "ami_ssm_parameter" {
  description = "SSM public parameter of the gateway and CPU worker AMI."
  type        = string
  default     = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"

  validation {
    condition     = startswith(var.ami_ssm_parameter, "/")
    error_message = "ami_ssm_parameter must be an SSM parameter path."
  }
}

variable "gpu_ami_ssm_parameter" {
  description = "SSM public parameter of the GPU AMI (NVIDIA driver, Amazon Linux 2023)."
  type        = string
  default     = "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-amazon-linux-2023/latest/ami-id"

  validation {
    condition     = startswith(var.gpu_ami_ssm_parameter, "/")
    error_message = "gpu_ami_ssm_parameter must be an SSM parameter path."
  }
}

variable "gateway" {
  description = "Gateway Auto Scaling group."
  type = object({
    instance_type = optional(string, "c7i.large")
    min_size      = optional(number, 2)
    max_size      = optional(number, 6)
  })
  default = {}

  validation {
    condition     = var.gateway.instance_type != "" && var.gateway.min_size >= 1 && var.gateway.min_size <= var.gateway.max_size
    error_message = "gateway needs an instance type and 1 <= min_size <= max_size."
  }
}

variable "database" {
  description = "RDS PostgreSQL 16."
  type = object({
    instance_class           = optional(string, "db.m7g.large")
    allocated_storage_gb     = optional(number, 100)
    max_allocated_storage_gb = optional(number, 1000)
    multi_az                 = optional(bool, true)
    backup_retention_days    = optional(number, 7)
    deletion_protection      = optional(bool, true)
  })
  default = {}

  validation {
    condition     = startswith(var.database.instance_class, "db.") && var.database.allocated_storage_gb >= 20 && var.database.max_allocated_storage_gb >= var.database.allocated_storage_gb
    error_message = "database needs a db.* instance class, at least 20 GB, and max_allocated_storage_gb >= allocated_storage_gb."
  }

  validation {
    condition     = var.database.backup_retention_days >= 1 && var.database.backup_retention_days <= 35
    error_message = "database.backup_retention_days must be between 1 and 35."
  }
}

variable "broker" {
  description = "Amazon MQ for RabbitMQ."
  type = object({
    instance_type   = optional(string, "mq.m5.large")
    engine_version  = optional(string, "3.13")
    deployment_mode = optional(string, "CLUSTER_MULTI_AZ")
  })
  default = {}

  validation {
    condition     = contains(["SINGLE_INSTANCE", "CLUSTER_MULTI_AZ"], var.broker.deployment_mode)
    error_message = "broker.deployment_mode must be SINGLE_INSTANCE or CLUSTER_MULTI_AZ."
  }

  validation {
    condition     = startswith(var.broker.instance_type, "mq.") && can(regex("^(3\\.13|[4-9]\\.[0-9]+)", var.broker.engine_version))
    error_message = "broker needs an mq.* instance type and RabbitMQ 3.13 or newer (quorum queues, x-delivery-limit)."
  }
}

variable "opensearch" {
  description = "OpenSearch domain."
  type = object({
    engine_version = optional(string, "OpenSearch_2.17")
    instance_type  = optional(string, "r6g.large.search")
    instance_count = optional(number, 2)
    volume_size_gb = optional(number, 100)
  })
  default = {}

  validation {
    condition     = can(regex("^OpenSearch_([3-9]|2\\.(1[0-9]|[2-9][0-9]))", var.opensearch.engine_version))
    error_message = "opensearch.engine_version must be OpenSearch_2.10 or newer (hybrid search pipelines)."
  }

  validation {
    condition     = endswith(var.opensearch.instance_type, ".search") && var.opensearch.instance_count >= 1 && var.opensearch.volume_size_gb >= 10
    error_message = "opensearch needs a *.search instance type, at least one node and 10 GB."
  }
}

variable "bucket_name" {
  description = "S3 bucket for uploads and artifacts (globally unique)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)."
  }
}

variable "abort_incomplete_multipart_days" {
  description = "Days after which the parts of an abandoned multipart upload are deleted."
  type        = number
  default     = 7

  validation {
    condition     = var.abort_incomplete_multipart_days >= 1
    error_message = "abort_incomplete_multipart_days must be at least 1."
  }
}

variable "cors_allowed_origins" {
  description = "Browser origins (the web console's) allowed to call the gateway (DOCFLEET_CORS_ORIGINS) and to upload to and download from the bucket straight (its CORS rule); empty: neither."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for o in var.cors_allowed_origins : can(regex("^https?://[^/?#*]+$", o))])
    error_message = "cors_allowed_origins must be http(s) origins without a path, like https://app.example.com (the gateway refuses \"*\")."
  }
}

variable "bucket_force_destroy" {
  description = "Let `terraform destroy` delete a non-empty bucket (test deployments only)."
  type        = bool
  default     = false
}

variable "queue_prefix" {
  description = "AMQP_PREFIX: prepended to every queue and exchange name (several deployments on one broker)."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]*$", var.queue_prefix))
    error_message = "queue_prefix may contain only letters, digits, dots, underscores and hyphens."
  }
}

variable "rabbitmq_virtual_host" {
  description = "Virtual host of docfleet's queues (the VirtualHost dimension of the backlog metric)."
  type        = string
  default     = "/"
}

variable "stage_timeout_ms" {
  description = "DOCFLEET_STAGE_TIMEOUT_MS: time budget of one stage run."
  type        = number
  default     = 120000

  validation {
    condition     = var.stage_timeout_ms >= 1000
    error_message = "stage_timeout_ms must be at least 1000."
  }
}

variable "drain_timeout_seconds" {
  description = "How long a stopping worker may take to finish in-flight messages; must exceed stage_timeout_ms."
  type        = number
  default     = 300

  validation {
    condition     = var.drain_timeout_seconds >= 30 && var.drain_timeout_seconds <= 3600
    error_message = "drain_timeout_seconds must be between 30 and 3600."
  }
}

variable "metrics_port" {
  description = "METRICS_PORT of the workers (/health, /metrics)."
  type        = number
  default     = 9464

  validation {
    condition     = var.metrics_port >= 1024 && var.metrics_port <= 65535
    error_message = "metrics_port must be an unprivileged port."
  }
}

variable "cpu_pool" {
  description = "CPU workers: roles parse,index."
  type = object({
    instance_types                  = optional(list(string), ["c7i.xlarge", "c6i.xlarge", "m7i.xlarge"])
    min_size                        = optional(number, 1)
    max_size                        = optional(number, 10)
    on_demand_base_capacity         = optional(number, 1)
    on_demand_percentage_above_base = optional(number, 0)
    target_backlog_per_worker       = optional(number, 20)
    concurrency                     = optional(number, 4)
    instance_warmup_seconds         = optional(number, 180)
    root_volume_gb                  = optional(number, 30)
  })
  default = {}

  validation {
    condition     = length(var.cpu_pool.instance_types) > 0 && alltrue([for t in var.cpu_pool.instance_types : can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", t))])
    error_message = "cpu_pool.instance_types must be a non-empty list of instance types."
  }

  validation {
    condition     = var.cpu_pool.min_size >= 1 && var.cpu_pool.min_size <= var.cpu_pool.max_size
    error_message = "cpu_pool needs 1 <= min_size <= max_size (target tracking does not scale out from zero instances)."
  }

  validation {
    condition     = var.cpu_pool.target_backlog_per_worker > 0 && var.cpu_pool.concurrency >= 1
    error_message = "cpu_pool.target_backlog_per_worker must be > 0 and concurrency >= 1."
  }

  validation {
    condition     = var.cpu_pool.on_demand_percentage_above_base >= 0 && var.cpu_pool.on_demand_percentage_above_base <= 100 && var.cpu_pool.on_demand_base_capacity >= 0
    error_message = "cpu_pool.on_demand_percentage_above_base must be 0-100 and on_demand_base_capacity >= 0."
  }
}

variable "gpu_pool" {
  description = "GPU workers: roles understand,embed, with Ollama on each node."
  type = object({
    instance_types                  = optional(list(string), ["g6.xlarge", "g5.xlarge", "g6.2xlarge", "g5.2xlarge"])
    min_size                        = optional(number, 1)
    max_size                        = optional(number, 8)
    on_demand_base_capacity         = optional(number, 1)
    on_demand_percentage_above_base = optional(number, 0)
    target_backlog_per_worker       = optional(number, 40)
    concurrency                     = optional(number, 4)
    understand_concurrency          = optional(number, 8)
    ollama_num_parallel             = optional(number, 4)
    instance_warmup_seconds         = optional(number, 600)
    root_volume_gb                  = optional(number, 150)
  })
  default = {}

  validation {
    condition     = length(var.gpu_pool.instance_types) > 0 && alltrue([for t in var.gpu_pool.instance_types : can(regex("^(g5|g6|g6e|g4dn|p4d|p5)\\.[a-z0-9]+$", t))])
    error_message = "gpu_pool.instance_types must be a non-empty list of NVIDIA GPU types (g5, g6, g6e, g4dn, p4d, p5)."
  }

  validation {
    condition     = var.gpu_pool.min_size >= 1 && var.gpu_pool.min_size <= var.gpu_pool.max_size
    error_message = "gpu_pool needs 1 <= min_size <= max_size (target tracking does not scale out from zero instances)."
  }

  validation {
    condition     = var.gpu_pool.target_backlog_per_worker > 0 && var.gpu_pool.concurrency >= 1 && var.gpu_pool.understand_concurrency >= 1 && var.gpu_pool.ollama_num_parallel >= 1
    error_message = "gpu_pool.target_backlog_per_worker must be > 0; concurrency, understand_concurrency and ollama_num_parallel >= 1."
  }

  validation {
    condition     = var.gpu_pool.on_demand_percentage_above_base >= 0 && var.gpu_pool.on_demand_percentage_above_base <= 100 && var.gpu_pool.on_demand_base_capacity >= 0
    error_message = "gpu_pool.on_demand_percentage_above_base must be 0-100 and on_demand_base_capacity >= 0."
  }
}

variable "ollama_models" {
  description = "Ollama models: text and vision (understand stage), embeddings (embed stage, and query embeddings); each is pulled on every GPU node."
  type = object({
    text             = optional(string, "qwen2.5:7b-instruct")
    vision           = optional(string, "qwen2.5vl:7b")
    embed            = optional(string, "nomic-embed-text")
    embed_dimensions = optional(number, 768)
  })
  default = {}

  validation {
    condition = alltrue([
      for m in [var.ollama_models.text, var.ollama_models.vision, var.ollama_models.embed] :
      can(regex("^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)?(:[A-Za-z0-9][A-Za-z0-9._-]*)?$", m))
    ])
    error_message = "ollama_models must be Ollama model names like qwen2.5:7b-instruct or namespace/model:tag."
  }

  validation {
    condition     = var.ollama_models.embed_dimensions >= 1
    error_message = "ollama_models.embed_dimensions must be at least 1."
  }
}
