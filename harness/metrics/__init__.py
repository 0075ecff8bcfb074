"""Layer 4, metrics: accuracy from logits, and the statistics of accuracies (bootstrap intervals,
McNemar, sign-flip tests). Imports only the core."""
