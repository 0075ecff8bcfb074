"""Layer 1, models: loading CLIP models (a registry of loaders), text encoding, image features and
the ViT internals methods hook into. Imports only the core."""
