"""``python -m lossdoctor``: the same as the ``lossdoctor`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
