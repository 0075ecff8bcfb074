"""Layer 6, evaluation: the runner (dataset -> cached features -> method -> logits -> metrics ->
results store), each evaluation's content identity, latency and the recorded environment."""
