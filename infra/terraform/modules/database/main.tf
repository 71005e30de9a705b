locals {
  username = "docfleet"
  database = "docfleet"
}

# Alphanumeric: the password goes into a URL without escaping.
resource "random_password" "master" {
  length  = 40
  special = false
}

resource "aws_db_subnet_group" "this" {
  name       = "${var.name}-db"
  subnet_ids = var.subnet_ids
  tags       = var.tags
}

# pgvector ships with RDS PostgreSQL 16: docfleet's migrations run CREATE EXTENSION vector themselves.
resource "aws_db_parameter_group" "this" {
  name   = "${var.name}-pg16"
  family = "postgres16"
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  tags = var.tags
}

resource "aws_db_instance" "this" {
  identifier                   = "${var.name}-db"
  engine                       = "postgres"
  engine_version               = "16"
  instance_class               = var.instance_class
  allocated_storage            = var.allocated_storage_gb
  max_allocated_storage        = var.max_allocated_storage_gb
  storage_type                 = "gp3"
  storage_encrypted            = true
  db_name                      = local.database
  username                     = local.username
  password                     = random_password.master.result
  db_subnet_group_name         = aws_db_subnet_group.this.name
  vpc_security_group_ids       = var.security_group_ids
  parameter_group_name         = aws_db_parameter_group.this.name
  publicly_accessible          = false
  multi_az                     = var.multi_az
  backup_retention_period      = var.backup_retention_days
  deletion_protection          = var.deletion_protection
  skip_final_snapshot          = !var.deletion_protection
  final_snapshot_identifier    = var.deletion_protection ? "${var.name}-db-final" : null
  auto_minor_version_upgrade   = true
  performance_insights_enabled = true
  copy_tags_to_snapshot        = true
  tags                         = var.tags
}

resource "aws_secretsmanager_secret" "url" {
  name_prefix = "${var.name}/database-url-"
  description = "DATABASE_URL of docfleet"
  tags        = var.tags
}

resource "aws_secretsmanager_secret_version" "url" {
  secret_id     = aws_secretsmanager_secret.url.id
  secret_string = "postgresql://${local.username}:${random_password.master.result}@${aws_db_instance.this.endpoint}/${local.database}?sslmode=require"
}
