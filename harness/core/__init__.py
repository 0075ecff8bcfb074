"""Layer 0, the core: errors, registries, hyperparameter configs, hashing, atomic writes, pinned
downloads, the feature cache and progress reporting. Imports nothing of zsbench above it."""
