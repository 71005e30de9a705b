data "aws_availability_zones" "available" {
  state = "available"
}

locals {
  azs       = slice(data.aws_availability_zones.available.names, 0, var.az_count)
  nat_count = var.single_nat_gateway ? 1 : var.az_count
}

resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(var.tags, { Name = var.name })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = var.name })
}

resource "aws_subnet" "public" {
  count                   = var.az_count
  vpc_id                  = aws_vpc.this.id
  availability_zone       = local.azs[count.index]
  cidr_block              = cidrsubnet(var.vpc_cidr, 4, count.index)
  map_public_ip_on_launch = false
  tags                    = merge(var.tags, { Name = "${var.name}-public-${local.azs[count.index]}", Tier = "public" })
}

resource "aws_subnet" "private" {
  count             = var.az_count
  vpc_id            = aws_vpc.this.id
  availability_zone = local.azs[count.index]
  cidr_block        = cidrsubnet(var.vpc_cidr, 4, count.index + 8)
  tags              = merge(var.tags, { Name = "${var.name}-private-${local.azs[count.index]}", Tier = "private" })
}

resource "aws_eip" "nat" {
  count  = local.nat_count
  domain = "vpc"
  tags   = merge(var.tags, { Name = "${var.name}-nat-${count.index}" })
}

resource "aws_nat_gateway" "this" {
  count         = local.nat_count
  allocation_id = aws_eip.nat[count.index].id
  subnet_id     = aws_subnet.public[count.index].id
  tags          = merge(var.tags, { Name = "${var.name}-nat-${count.index}" })
  depends_on    = [aws_internet_gateway.this]
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id
  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.this.id
  }
  tags = merge(var.tags, { Name = "${var.name}-public" })
}

resource "aws_route_table_association" "public" {
  count          = var.az_count
  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

# Private subnets reach the internet (Ollama install, model pulls, container registry) through NAT.
resource "aws_route_table" "private" {
  count  = var.az_count
  vpc_id = aws_vpc.this.id
  route {
    cidr_block     = "0.0.0.0/0"
    nat_gateway_id = aws_nat_gateway.this[var.single_nat_gateway ? 0 : count.index].id
  }
  tags = merge(var.tags, { Name = "${var.name}-private-${local.azs[count.index]}" })
}

resource "aws_route_table_association" "private" {
  count          = var.az_count
  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[count.index].id
}

# S3 traffic (uploads, artifacts) stays off the NAT gateways.
resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${data.aws_region.current.name}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = aws_route_table.private[*].id
  tags              = merge(var.tags, { Name = "${var.name}-s3" })
}

data "aws_region" "current" {}

# --- security groups: one per role, rules reference groups rather than CIDRs ---

resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "docfleet public load balancer"
  vpc_id      = aws_vpc.this.id
  tags        = var.tags
}

resource "aws_security_group" "gateway" {
  name        = "${var.name}-gateway"
  description = "docfleet gateways"
  vpc_id      = aws_vpc.this.id
  tags        = var.tags
}

resource "aws_security_group" "worker" {
  name        = "${var.name}-worker"
  description = "docfleet CPU and GPU workers"
  vpc_id      = aws_vpc.this.id
  tags        = var.tags
}

resource "aws_security_group" "data" {
  name        = "${var.name}-data"
  description = "PostgreSQL, RabbitMQ and OpenSearch: reachable from gateways and workers only"
  vpc_id      = aws_vpc.this.id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each          = toset(var.alb_ingress_cidrs)
  security_group_id = aws_security_group.alb.id
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  for_each          = toset(var.alb_ingress_cidrs)
  security_group_id = aws_security_group.alb.id
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
}

resource "aws_vpc_security_group_ingress_rule" "gateway_from_alb" {
  security_group_id            = aws_security_group.gateway.id
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = var.gateway_port
  to_port                      = var.gateway_port
}

resource "aws_vpc_security_group_ingress_rule" "gateway_metrics" {
  for_each          = toset(var.metrics_ingress_cidrs)
  security_group_id = aws_security_group.gateway.id
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = var.gateway_port
  to_port           = var.gateway_port
}

resource "aws_vpc_security_group_ingress_rule" "worker_metrics" {
  for_each          = toset(var.metrics_ingress_cidrs)
  security_group_id = aws_security_group.worker.id
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = var.metrics_port
  to_port           = var.metrics_port
}

# Ollama on GPU workers, reached through the internal network load balancer by gateways (query
# embeddings) and CPU workers (the index stage shares the embedding configuration). The NLB preserves
# client addresses and health-checks from its own, so the rule admits the VPC.
resource "aws_vpc_security_group_ingress_rule" "ollama" {
  security_group_id = aws_security_group.worker.id
  cidr_ipv4         = var.vpc_cidr
  ip_protocol       = "tcp"
  from_port         = 11434
  to_port           = 11434
}

resource "aws_vpc_security_group_ingress_rule" "data" {
  for_each = {
    for pair in setproduct(["gateway", "worker"], [5432, 5671, 443]) :
    "${pair[0]}-${pair[1]}" => { group = pair[0], port = pair[1] }
  }
  security_group_id            = aws_security_group.data.id
  referenced_security_group_id = each.value.group == "gateway" ? aws_security_group.gateway.id : aws_security_group.worker.id
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
}

resource "aws_vpc_security_group_egress_rule" "all" {
  for_each = {
    alb     = aws_security_group.alb.id
    gateway = aws_security_group.gateway.id
    worker  = aws_security_group.worker.id
  }
  security_group_id = each.value
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
}
