data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

data "aws_ssm_parameter" "ami" {
  name = var.ami_ssm_parameter
}

locals {
  # The queues this pool consumes, named as docfleet names them: `${AMQP_PREFIX}docfleet.<stage>`.
  queues    = [for r in var.roles : "${var.queue_prefix}docfleet.${r}"]
  asg_name  = var.name
  hook_name = "${var.name}-drain"
  # systemd's stop timeout: the drain budget plus time for `docker stop` itself.
  stop_timeout_seconds = var.drain_timeout_seconds + 30
  ollama_port          = 11434

  worker_environment = merge(
    var.environment,
    {
      WORKER_ROLES                  = join(",", var.roles)
      WORKER_CONCURRENCY            = tostring(var.concurrency)
      WORKER_UNDERSTAND_CONCURRENCY = tostring(var.understand_concurrency)
      DOCFLEET_STAGE_TIMEOUT_MS     = tostring(var.stage_timeout_ms)
      AMQP_PREFIX                   = var.queue_prefix
      METRICS_PORT                  = tostring(var.metrics_port)
      METRICS_HOST                  = "0.0.0.0" # scraped from the VPC; the security group limits who reaches it
    },
    var.gpu ? { OLLAMA_URL = "http://127.0.0.1:${local.ollama_port}" } : {},
  )
}

# --- instance identity: read its secrets, complete its own lifecycle actions, pull images, the bucket ---

module "role" {
  source      = "../instance_role"
  name        = var.name
  policy_name = "docfleet-worker"
  secret_arns = values(var.secret_environment)
  extra_statements = concat([{
    Effect   = "Allow"
    Action   = ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat", "autoscaling:SetInstanceHealth"]
    Resource = "arn:aws:autoscaling:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:autoScalingGroup:*:autoScalingGroupName/${local.asg_name}"
  }], var.storage_statements)
  tags = var.tags
}

# --- launch template: Ollama (GPU), models, the worker under systemd, the drain watcher ---

resource "aws_launch_template" "this" {
  name_prefix            = "${var.name}-"
  image_id               = data.aws_ssm_parameter.ami.value
  vpc_security_group_ids = var.security_group_ids
  update_default_version = true

  iam_instance_profile {
    arn = module.role.instance_profile_arn
  }

  # IMDSv2 only; hop limit 2 so the containerised worker could reach it too.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = var.root_volume_gb
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  user_data = base64encode(templatefile("${path.module}/user_data.sh.tftpl", {
    name                  = var.name
    region                = data.aws_region.current.name
    roles                 = join(",", var.roles)
    gpu                   = var.gpu
    ollama_models         = var.ollama_models
    ollama_host           = var.expose_ollama ? "0.0.0.0:${local.ollama_port}" : "127.0.0.1:${local.ollama_port}"
    ollama_num_parallel   = var.ollama_num_parallel
    image                 = var.image
    environment           = local.worker_environment
    secret_environment    = var.secret_environment
    drain_timeout_seconds = var.drain_timeout_seconds
    stop_timeout_seconds  = local.stop_timeout_seconds
    asg_name              = local.asg_name
    hook_name             = local.hook_name
  }))

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = var.name, "docfleet:roles" = join(",", var.roles) })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = var.tags
  }

  lifecycle {
    precondition {
      condition     = var.drain_timeout_seconds * 1000 > var.stage_timeout_ms
      error_message = "drain_timeout_seconds must exceed the stage timeout, or a stopping worker is killed mid-stage."
    }
    precondition {
      condition     = var.min_size <= var.max_size
      error_message = "min_size must not exceed max_size."
    }
    precondition {
      condition     = !var.gpu || length(var.ollama_models) > 0
      error_message = "a GPU pool needs at least one model in ollama_models."
    }
  }
}

# --- the group: on-demand base, spot above it, rebalanced before interruptions ---

resource "aws_autoscaling_group" "this" {
  name                      = local.asg_name
  min_size                  = var.min_size
  max_size                  = var.max_size
  vpc_zone_identifier       = var.subnet_ids
  capacity_rebalance        = true
  default_instance_warmup   = var.instance_warmup_seconds
  health_check_type         = "EC2"
  health_check_grace_period = var.instance_warmup_seconds
  target_group_arns         = aws_lb_target_group.ollama[*].arn
  # The scaling policy divides the backlog by this metric: group metrics must be on.
  enabled_metrics     = ["GroupInServiceInstances", "GroupDesiredCapacity", "GroupTerminatingInstances"]
  metrics_granularity = "1Minute"

  mixed_instances_policy {
    instances_distribution {
      on_demand_base_capacity                  = var.on_demand_base_capacity
      on_demand_percentage_above_base_capacity = var.on_demand_percentage_above_base
      spot_allocation_strategy                 = "price-capacity-optimized"
    }

    launch_template {
      launch_template_specification {
        launch_template_id = aws_launch_template.this.id
        version            = aws_launch_template.this.latest_version
      }

      dynamic "override" {
        for_each = var.instance_types
        content {
          instance_type = override.value
        }
      }
    }
  }

  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 50
    }
  }

  dynamic "tag" {
    for_each = merge(var.tags, { Name = var.name })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    # The scaling policy owns the desired capacity.
    ignore_changes = [desired_capacity]
  }
}

# Holds a terminating instance (scale-in, rebalancing, spot) until the drain watcher in the user data
# has stopped the worker and completed the action, or until the heartbeat timeout.
resource "aws_autoscaling_lifecycle_hook" "drain" {
  name                   = local.hook_name
  autoscaling_group_name = aws_autoscaling_group.this.name
  lifecycle_transition   = "autoscaling:EC2_INSTANCE_TERMINATING"
  heartbeat_timeout      = local.stop_timeout_seconds + 60
  default_result         = "CONTINUE"
}

# --- scaling on backlog per worker ---

# Backlog = MessageCount (ready + unacknowledged) of every queue this pool consumes, summed, divided by
# the instances in service (1 when none, so an empty group with a backlog still reads high).
resource "aws_autoscaling_policy" "backlog" {
  name                      = "${var.name}-backlog-per-worker"
  autoscaling_group_name    = aws_autoscaling_group.this.name
  policy_type               = "TargetTrackingScaling"
  estimated_instance_warmup = var.instance_warmup_seconds

  target_tracking_configuration {
    target_value = var.target_backlog_per_worker

    customized_metric_specification {
      dynamic "metrics" {
        for_each = local.queues
        content {
          id          = "backlog${metrics.key}"
          label       = "MessageCount ${metrics.value}"
          return_data = false
          metric_stat {
            stat = "Average"
            metric {
              namespace   = "AWS/AmazonMQ"
              metric_name = "MessageCount"
              dimensions {
                name  = "Broker"
                value = var.broker_name
              }
              dimensions {
                name  = "VirtualHost"
                value = var.virtual_host
              }
              dimensions {
                name  = "Queue"
                value = metrics.value
              }
            }
          }
        }
      }

      metrics {
        id          = "in_service"
        label       = "GroupInServiceInstances"
        return_data = false
        metric_stat {
          stat = "Average"
          metric {
            namespace   = "AWS/AutoScaling"
            metric_name = "GroupInServiceInstances"
            dimensions {
              name  = "AutoScalingGroupName"
              value = aws_autoscaling_group.this.name
            }
          }
        }
      }

      metrics {
        id          = "backlog_per_worker"
        label       = "messages waiting per in-service ${var.name} instance"
        expression  = "(${join(" + ", [for i, q in local.queues : "backlog${i}"])}) / IF(in_service > 0, in_service, 1)"
        return_data = true
      }
    }
  }
}

# --- Ollama behind an internal NLB, for processes that are not on a GPU node ---

resource "aws_lb" "ollama" {
  count              = var.gpu && var.expose_ollama ? 1 : 0
  name_prefix        = "olma-"
  internal           = true
  load_balancer_type = "network"
  subnets            = var.subnet_ids
  tags               = var.tags
}

resource "aws_lb_target_group" "ollama" {
  count                = var.gpu && var.expose_ollama ? 1 : 0
  name_prefix          = "olma-"
  port                 = local.ollama_port
  protocol             = "TCP"
  vpc_id               = var.vpc_id
  deregistration_delay = 30
  health_check {
    protocol = "HTTP"
    path     = "/api/version"
  }
  tags = var.tags
}

resource "aws_lb_listener" "ollama" {
  count             = var.gpu && var.expose_ollama ? 1 : 0
  load_balancer_arn = aws_lb.ollama[0].arn
  port              = local.ollama_port
  protocol          = "TCP"
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.ollama[0].arn
  }
}
