"""``python -m swimcore``: the command line."""

import sys

from swimcore.cli import main

sys.exit(main())
