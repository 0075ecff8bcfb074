"""The ``zsbench`` console script. Ctrl-C at any moment exits 130 with one line saying what was
kept: during a run the runner's message (the finished evaluations and their file), and during
startup (imports, argument parsing), where nothing has been evaluated yet, a line saying so."""
from __future__ import annotations

import sys

STARTUP = "interrupted: zsbench was still starting; no evaluation was run and nothing was written\n"


def main() -> None:
    try:
        from zsbench.harness.cli import app as cli

        cli.app()
    except KeyboardInterrupt:  # before typer took over (imports)
        sys.stderr.write(STARTUP)
        sys.exit(130)
    except SystemExit as exit_:
        if exit_.code == 130 and not cli.interrupt_reported:  # typer turned a Ctrl-C outside a command into exit 130
            sys.stderr.write(STARTUP)
        raise
