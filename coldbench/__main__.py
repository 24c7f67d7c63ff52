"""`python -m coldbench` entry point."""

from __future__ import annotations

import sys

from coldbench.cli import main

if __name__ == "__main__":
    sys.exit(main())
