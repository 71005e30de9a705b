locals {
  username = "docfleet"
  zones    = min(var.instance_count, length(var.subnet_ids), 3)
}

# Fine-grained access control wants at least one of each: upper, lower, digit, special.
resource "random_password" "master" {
  length           = 32
  special          = true
  override_special = "-_."
  min_upper        = 1
  min_lower        = 1
  min_numeric      = 1
  min_special      = 1
}

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

resource "aws_opensearch_domain" "this" {
  domain_name    = var.name
  engine_version = var.engine_version

  cluster_config {
    instance_type          = var.instance_type
    instance_count         = var.instance_count
    zone_awareness_enabled = local.zones > 1
    dynamic "zone_awareness_config" {
      for_each = local.zones > 1 ? [local.zones] : []
      content {
        availability_zone_count = zone_awareness_config.value
      }
    }
  }

  ebs_options {
    ebs_enabled = true
    volume_type = "gp3"
    volume_size = var.volume_size_gb
  }

  vpc_options {
    subnet_ids         = slice(var.subnet_ids, 0, local.zones)
    security_group_ids = var.security_group_ids
  }

  encrypt_at_rest {
    enabled = true
  }

  node_to_node_encryption {
    enabled = true
  }

  domain_endpoint_options {
    enforce_https       = true
    tls_security_policy = "Policy-Min-TLS-1-2-2019-07"
  }

  advanced_security_options {
    enabled                        = true
    internal_user_database_enabled = true
    master_user_options {
      master_user_name     = local.username
      master_user_password = random_password.master.result
    }
  }

  # With fine-grained access control the resource policy admits everyone in the VPC (the security group
  # decides who reaches it) and the internal user database decides what they may do.
  access_policies = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { AWS = "*" }
      Action    = "es:ESHttp*"
      Resource  = "arn:aws:es:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:domain/${var.name}/*"
    }]
  })

  tags = var.tags

  lifecycle {
    precondition {
      condition     = local.zones <= 1 || var.instance_count % local.zones == 0
      error_message = "with zone awareness the data node count must be a multiple of the zones used."
    }
  }
}

resource "aws_secretsmanager_secret" "password" {
  name_prefix = "${var.name}/opensearch-password-"
  description = "OPENSEARCH_PASSWORD of docfleet"
  tags        = var.tags
}

resource "aws_secretsmanager_secret_version" "password" {
  secret_id     = aws_secretsmanager_secret.password.id
  secret_string = random_password.master.result
}
