"""The harness (installed as ``zsbench.harness``): CLI, runner, registries, model loading, feature
cache, results store, leaderboard and latency measurement."""
