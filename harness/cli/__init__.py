"""Layer 7, the command line (typer): ``zsbench run``, ``list``, ``leaderboard``, ... Nothing imports it."""
