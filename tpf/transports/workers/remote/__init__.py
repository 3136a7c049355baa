"""Remote transition workers: the coordinator/worker boundary over REST, gRPC and SQS."""
