locals {
  username = "docfleet"
}

# Amazon MQ refuses commas, colons and equals signs in passwords; alphanumeric also keeps the URL valid.
resource "random_password" "broker" {
  length  = 32
  special = false
}

resource "aws_mq_broker" "this" {
  broker_name                = var.name
  engine_type                = "RabbitMQ"
  engine_version             = var.engine_version
  host_instance_type         = var.instance_type
  deployment_mode            = var.deployment_mode
  subnet_ids                 = var.deployment_mode == "SINGLE_INSTANCE" ? [var.subnet_ids[0]] : var.subnet_ids
  security_groups            = var.security_group_ids
  publicly_accessible        = false
  auto_minor_version_upgrade = true
  apply_immediately          = false

  encryption_options {
    use_aws_owned_key = true
  }

  logs {
    general = true
  }

  user {
    username = local.username
    password = random_password.broker.result
  }

  tags = var.tags
}

locals {
  # amqps://b-....mq.<region>.amazonaws.com:5671
  amqps_endpoint = aws_mq_broker.this.instances[0].endpoints[0]
}

resource "aws_secretsmanager_secret" "url" {
  name_prefix = "${var.name}/amqp-url-"
  description = "AMQP_URL of docfleet"
  tags        = var.tags
}

resource "aws_secretsmanager_secret_version" "url" {
  secret_id     = aws_secretsmanager_secret.url.id
  secret_string = replace(local.amqps_endpoint, "amqps://", "amqps://${local.username}:${random_password.broker.result}@")
}
