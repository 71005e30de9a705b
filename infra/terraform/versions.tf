terraform {
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # State holds generated passwords and the S3 key pair: keep it in an encrypted, access-controlled
  # backend, e.g.
  # backend "s3" { bucket = "my-tf-state" key = "docfleet/terraform.tfstate" region = "eu-west-1" encrypt = true use_lockfile = true }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = merge(var.tags, { Project = "docfleet", Deployment = var.name })
  }
}
