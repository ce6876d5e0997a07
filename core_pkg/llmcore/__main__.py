"""``python -m llmcore``: the ``llmcore`` command line (see :mod:`llmcore.cli`)."""

from __future__ import annotations

from llmcore.cli import main

if __name__ == "__main__":
    main()
