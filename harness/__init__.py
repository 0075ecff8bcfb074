"""The harness (installed as ``zsbench.harness``), in layers. Each line may import the lines above
it and never the lines below (``tests/test_layers.py`` parses every module's imports, deferred ones
included, and fails on a violation):

0. ``harness/core``        errors, registries, configs, hashing, atomic writes, downloads, feature cache, progress
1. ``harness/models``      model loaders (a registry), text encoding, image features, ViT hooks
2. ``datasets/``           datasets and suites, their records, few-shot subsets, description files
3. ``methods/``            method plug-ins (the contract in ``methods/base.py``; ABS and its support in ``methods/abs/``)
4. ``harness/metrics``     accuracy from logits; bootstrap intervals and paired tests
5. ``harness/results``     the Parquet results store, per-image predictions, compare, the leaderboard
6. ``harness/evaluation``  the runner, evaluation identity, latency, the recorded environment
7. ``harness/cli``         the ``zsbench`` command; nothing imports it

The public API (``zsbench.load_results`` and friends, ``harness/_zsbench``) sits beside the CLI and may
import everything but it. Plug-ins are found by registry (``zsbench.harness.core.registry``), not by
import: the core names the packages whose import registers the built-in plug-ins, so a model loader,
dataset or method registers itself instead of being imported by a layer below it.
"""

#: (package prefix, layer): a module may import only modules of its own or a lower layer.
LAYERS = (
    ("zsbench.harness.core", 0),
    ("zsbench.harness.models", 1),
    ("zsbench.datasets", 2),
    ("zsbench.methods", 3),
    ("zsbench.harness.metrics", 4),
    ("zsbench.harness.results", 5),
    ("zsbench.harness.evaluation", 6),
    ("zsbench.harness.cli", 7),
    ("zsbench.harness", 6),  # this file
    ("zsbench", 6),  # the public API: everything but the CLI
)
