"""``python -m starter``: the ``party-orders`` command line."""

import sys

from starter.cli import main

sys.exit(main())
