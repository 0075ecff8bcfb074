"""Scaling a sweep out: units and shards, claims, submitit sweeps, torchrun encoding."""
