"""``python -m lossdoctor``: the same as the ``lossdoctor`` command."""

import sys

from .cli import main

sys.exit(main())
