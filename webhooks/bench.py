"""The receiver benchmark under its old name: ``python -m webhooks.bench [OPTIONS]`` is ``relay bench --only ingest``.

``relay bench`` (``worker.devtools.bench``) measures the receiver against uvicorn's fastest hello-world and
adnanh/webhook, and the rest of Relay too; see the README's "Performance".
"""

from __future__ import annotations

import sys


def main() -> None:
    """Run ``relay bench --only ingest`` with this command's arguments."""
    from worker.cli import main as relay

    relay(["bench", "--only", "ingest", *sys.argv[1:]], prog_name="python -m webhooks.bench")


if __name__ == "__main__":
    main()
