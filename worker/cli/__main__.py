"""``python -m worker.cli``: the same as the ``relay`` command."""

from worker.cli import main

main()
