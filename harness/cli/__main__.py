"""``python -m zsbench.harness.cli``: the console script, for machines whose scripts folder is not
on PATH (``tests/benchmarks/gpu.sh`` uses it)."""
from zsbench.harness.cli.console import main

main()
