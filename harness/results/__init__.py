"""Layer 5, results: the Parquet results store, per-image predictions, paired comparison and the
leaderboard rendered from them. Imports the core, metrics and (for suites) the registry."""
