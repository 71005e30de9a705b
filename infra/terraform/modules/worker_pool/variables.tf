variable "name" {
  description = "Pool name; also the Auto Scaling group name."
  type        = string
}

variable "roles" {
  description = "Stages this pool consumes (WORKER_ROLES): the pool scales on the backlog of exactly these queues."
  type        = list(string)

  validation {
    condition     = length(var.roles) > 0 && alltrue([for r in var.roles : contains(["parse", "understand", "embed", "index"], r)])
    error_message = "roles must be a non-empty list of parse, understand, embed, index."
  }
}

variable "gpu" {
  description = "GPU pool: installs Ollama on each node, pulls ollama_models and points the worker at 127.0.0.1:11434."
  type        = bool
}

variable "ami_ssm_parameter" {
  description = "SSM public parameter naming the AMI (Amazon Linux 2023, or the NVIDIA driver DLAMI for GPU pools)."
  type        = string
}

variable "instance_types" {
  description = "Instance types the mixed instances policy may launch (spot is spread over all of them: more types, fewer interruptions)."
  type        = list(string)

  validation {
    condition     = length(var.instance_types) > 0
    error_message = "instance_types must not be empty."
  }
}

variable "root_volume_gb" {
  description = "Root volume size (GPU nodes hold the Ollama models: several GB each)."
  type        = number
}

variable "min_size" {
  description = "Fewest instances."
  type        = number
}

variable "max_size" {
  description = "Most instances."
  type        = number

  validation {
    condition     = var.max_size >= 1
    error_message = "max_size must be at least 1."
  }
}

variable "on_demand_base_capacity" {
  description = "Instances always bought on demand; above it, on_demand_percentage_above_base of the rest."
  type        = number
}

variable "on_demand_percentage_above_base" {
  description = "Share (0-100) of instances above the base bought on demand; the rest is spot."
  type        = number
}

variable "target_backlog_per_worker" {
  description = "Target of the target-tracking policy: messages waiting in this pool's queues per in-service instance."
  type        = number

  validation {
    condition     = var.target_backlog_per_worker > 0
    error_message = "target_backlog_per_worker must be greater than 0."
  }
}

variable "instance_warmup_seconds" {
  description = "Seconds a new instance needs before it takes work (boot, image pull, model pulls)."
  type        = number
}

variable "concurrency" {
  description = "WORKER_CONCURRENCY: messages per stage at once (prefetch)."
  type        = number
}

variable "understand_concurrency" {
  description = "WORKER_UNDERSTAND_CONCURRENCY: understand-stage messages at once (about 2x OLLAMA_NUM_PARALLEL)."
  type        = number
}

variable "stage_timeout_ms" {
  description = "DOCFLEET_STAGE_TIMEOUT_MS: time budget of one stage run."
  type        = number
}

variable "drain_timeout_seconds" {
  description = "How long a stopping worker may take to finish in-flight messages (systemd TimeoutStopSec); must exceed the stage timeout."
  type        = number
}

variable "ollama_models" {
  description = "Models `ollama pull`ed at start on GPU nodes (ignored for CPU pools)."
  type        = list(string)
}

variable "ollama_num_parallel" {
  description = "OLLAMA_NUM_PARALLEL: requests each loaded model serves at once."
  type        = number
}

variable "expose_ollama" {
  description = "Put the pool's Ollama behind an internal load balancer (gateways embed queries, CPU workers index with it)."
  type        = bool
}

variable "image" {
  description = "Container image of docfleet (ENTRYPOINT: the docfleet CLI), e.g. <account>.dkr.ecr.<region>.amazonaws.com/docfleet-worker:1.0."
  type        = string
}

variable "environment" {
  description = "Plain environment of the worker (non-secret settings)."
  type        = map(string)
}

variable "secret_environment" {
  description = "Environment variable name => Secrets Manager secret ARN, read at boot into a root-only env file."
  type        = map(string)
}

variable "metrics_port" {
  description = "METRICS_PORT of the worker (/health and /metrics)."
  type        = number
}

variable "vpc_id" {
  description = "VPC of the internal Ollama load balancer."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets instances launch into."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the instances."
  type        = list(string)
}

variable "broker_name" {
  description = "Amazon MQ broker name (`Broker` dimension of the backlog metric)."
  type        = string
}

variable "virtual_host" {
  description = "RabbitMQ virtual host of the queues (`VirtualHost` dimension)."
  type        = string
}

variable "queue_prefix" {
  description = "AMQP_PREFIX: prepended to every queue name."
  type        = string
}

variable "storage_statements" {
  description = "IAM statements granting the workers' instance role the bucket's access (modules/storage)."
  type        = list(any)
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
}
