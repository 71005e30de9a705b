# docfleet's distributed mode on AWS: gateways behind a load balancer, a CPU worker pool (parse, index)
# and a GPU worker pool (understand, embed; Ollama on each node), each pool scaled on the backlog of the
# queues it consumes, over RDS PostgreSQL, Amazon MQ for RabbitMQ, OpenSearch and S3.

locals {
  gateway_port = 4000
  s3_endpoint  = "https://s3.${var.region}.amazonaws.com"
  models       = distinct([var.ollama_models.text, var.ollama_models.vision, var.ollama_models.embed])

  # Settings every docfleet process shares (README, Configuration).
  environment = {
    S3_ENDPOINT             = local.s3_endpoint
    S3_PUBLIC_URL           = local.s3_endpoint
    S3_REGION               = module.storage.bucket_region
    S3_BUCKET               = module.storage.bucket
    OPENSEARCH_URL          = module.search.url
    OPENSEARCH_USERNAME     = module.search.username
    AMQP_PREFIX             = var.queue_prefix
    DOCFLEET_MODELS         = "ollama"
    OLLAMA_TEXT_MODEL       = var.ollama_models.text
    OLLAMA_VISION_MODEL     = var.ollama_models.vision
    OLLAMA_EMBED_MODEL      = var.ollama_models.embed
    OLLAMA_EMBED_DIMENSIONS = tostring(var.ollama_models.embed_dimensions)
    DOCFLEET_LOG_LEVEL      = "info"
    # The pages that may call the gateway are the pages that may upload to the bucket (one setting).
    DOCFLEET_CORS_ORIGINS = join(",", var.cors_allowed_origins)
  }

  # No S3 keys: every instance's role has the bucket's access (module.storage.access_statements), and
  # the S3 adapter takes the role's credentials from IMDSv2.
  secret_environment = {
    DATABASE_URL            = module.database.url_secret_arn
    AMQP_URL                = module.broker.url_secret_arn
    OPENSEARCH_PASSWORD     = module.search.password_secret_arn
    DOCFLEET_SIGNING_SECRET = aws_secretsmanager_secret.signing.arn
  }

  # Gateways (query embeddings) and CPU workers (index) reach the GPU pool's Ollama through its
  # internal load balancer; GPU workers use their own at 127.0.0.1.
  remote_ollama = { OLLAMA_URL = module.gpu_pool.ollama_url }
}

module "network" {
  source                = "./modules/network"
  name                  = var.name
  vpc_cidr              = var.vpc_cidr
  az_count              = var.az_count
  single_nat_gateway    = var.single_nat_gateway
  alb_ingress_cidrs     = var.alb_ingress_cidrs
  metrics_ingress_cidrs = concat([var.vpc_cidr], var.metrics_ingress_cidrs)
  gateway_port          = local.gateway_port
  metrics_port          = var.metrics_port
  tags                  = var.tags
}

module "database" {
  source                   = "./modules/database"
  name                     = var.name
  subnet_ids               = module.network.private_subnet_ids
  security_group_ids       = [module.network.data_security_group_id]
  instance_class           = var.database.instance_class
  allocated_storage_gb     = var.database.allocated_storage_gb
  max_allocated_storage_gb = var.database.max_allocated_storage_gb
  multi_az                 = var.database.multi_az
  backup_retention_days    = var.database.backup_retention_days
  deletion_protection      = var.database.deletion_protection
  tags                     = var.tags
}

module "broker" {
  source             = "./modules/broker"
  name               = var.name
  subnet_ids         = module.network.private_subnet_ids
  security_group_ids = [module.network.data_security_group_id]
  instance_type      = var.broker.instance_type
  engine_version     = var.broker.engine_version
  deployment_mode    = var.broker.deployment_mode
  tags               = var.tags
}

module "search" {
  source             = "./modules/search"
  name               = var.name
  subnet_ids         = module.network.private_subnet_ids
  security_group_ids = [module.network.data_security_group_id]
  engine_version     = var.opensearch.engine_version
  instance_type      = var.opensearch.instance_type
  instance_count     = var.opensearch.instance_count
  volume_size_gb     = var.opensearch.volume_size_gb
  tags               = var.tags
}

module "storage" {
  source                          = "./modules/storage"
  bucket_name                     = var.bucket_name
  abort_incomplete_multipart_days = var.abort_incomplete_multipart_days
  cors_allowed_origins            = var.cors_allowed_origins
  force_destroy                   = var.bucket_force_destroy
  tags                            = var.tags
}

# HMAC key for docfleet's own signed URLs: every gateway must share it.
resource "random_password" "signing" {
  length  = 48
  special = false
}

resource "aws_secretsmanager_secret" "signing" {
  name_prefix = "${var.name}/signing-secret-"
  description = "DOCFLEET_SIGNING_SECRET of docfleet"
}

resource "aws_secretsmanager_secret_version" "signing" {
  secret_id     = aws_secretsmanager_secret.signing.id
  secret_string = random_password.signing.result
}

module "gateway" {
  source                 = "./modules/gateway"
  name                   = "${var.name}-gateway"
  vpc_id                 = module.network.vpc_id
  public_subnet_ids      = module.network.public_subnet_ids
  private_subnet_ids     = module.network.private_subnet_ids
  alb_security_group_ids = [module.network.alb_security_group_id]
  security_group_ids     = [module.network.gateway_security_group_id]
  ami_ssm_parameter      = var.ami_ssm_parameter
  instance_type          = var.gateway.instance_type
  min_size               = var.gateway.min_size
  max_size               = var.gateway.max_size
  port                   = local.gateway_port
  certificate_arn        = var.certificate_arn
  public_url             = var.public_url
  image                  = var.gateway_image
  environment            = merge(local.environment, local.remote_ollama)
  secret_environment     = local.secret_environment
  storage_statements     = module.storage.access_statements
  tags                   = var.tags
}

module "cpu_pool" {
  source                          = "./modules/worker_pool"
  name                            = "${var.name}-cpu"
  roles                           = ["parse", "index"]
  gpu                             = false
  ami_ssm_parameter               = var.ami_ssm_parameter
  instance_types                  = var.cpu_pool.instance_types
  root_volume_gb                  = var.cpu_pool.root_volume_gb
  min_size                        = var.cpu_pool.min_size
  max_size                        = var.cpu_pool.max_size
  on_demand_base_capacity         = var.cpu_pool.on_demand_base_capacity
  on_demand_percentage_above_base = var.cpu_pool.on_demand_percentage_above_base
  target_backlog_per_worker       = var.cpu_pool.target_backlog_per_worker
  instance_warmup_seconds         = var.cpu_pool.instance_warmup_seconds
  concurrency                     = var.cpu_pool.concurrency
  understand_concurrency          = var.cpu_pool.concurrency
  stage_timeout_ms                = var.stage_timeout_ms
  drain_timeout_seconds           = var.drain_timeout_seconds
  ollama_models                   = []
  ollama_num_parallel             = 1
  expose_ollama                   = false
  image                           = var.worker_image
  environment                     = merge(local.environment, local.remote_ollama)
  secret_environment              = local.secret_environment
  storage_statements              = module.storage.access_statements
  metrics_port                    = var.metrics_port
  vpc_id                          = module.network.vpc_id
  subnet_ids                      = module.network.private_subnet_ids
  security_group_ids              = [module.network.worker_security_group_id]
  broker_name                     = module.broker.broker_name
  virtual_host                    = var.rabbitmq_virtual_host
  queue_prefix                    = var.queue_prefix
  tags                            = var.tags
}

module "gpu_pool" {
  source                          = "./modules/worker_pool"
  name                            = "${var.name}-gpu"
  roles                           = ["understand", "embed"]
  gpu                             = true
  ami_ssm_parameter               = var.gpu_ami_ssm_parameter
  instance_types                  = var.gpu_pool.instance_types
  root_volume_gb                  = var.gpu_pool.root_volume_gb
  min_size                        = var.gpu_pool.min_size
  max_size                        = var.gpu_pool.max_size
  on_demand_base_capacity         = var.gpu_pool.on_demand_base_capacity
  on_demand_percentage_above_base = var.gpu_pool.on_demand_percentage_above_base
  target_backlog_per_worker       = var.gpu_pool.target_backlog_per_worker
  instance_warmup_seconds         = var.gpu_pool.instance_warmup_seconds
  concurrency                     = var.gpu_pool.concurrency
  understand_concurrency          = var.gpu_pool.understand_concurrency
  stage_timeout_ms                = var.stage_timeout_ms
  drain_timeout_seconds           = var.drain_timeout_seconds
  ollama_models                   = local.models
  ollama_num_parallel             = var.gpu_pool.ollama_num_parallel
  expose_ollama                   = true
  image                           = var.worker_image
  environment                     = local.environment
  secret_environment              = local.secret_environment
  storage_statements              = module.storage.access_statements
  metrics_port                    = var.metrics_port
  vpc_id                          = module.network.vpc_id
  subnet_ids                      = module.network.private_subnet_ids
  security_group_ids              = [module.network.worker_security_group_id]
  broker_name                     = module.broker.broker_name
  virtual_host                    = var.rabbitmq_virtual_host
  queue_prefix                    = var.queue_prefix
  tags                            = var.tags
}
