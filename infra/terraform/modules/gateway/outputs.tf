output "url" {
  description = "URL clients reach the gateway at."
  value       = local.public_url
}

output "alb_dns_name" {
  description = "DNS name of the load balancer (point your domain's CNAME/alias here)."
  value       = aws_lb.this.dns_name
}

output "asg_name" {
  description = "Auto Scaling group of the gateways."
  value       = aws_autoscaling_group.this.name
}
