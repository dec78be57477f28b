"""``python -m convsplit`` runs the command line."""

import sys

from convsplit.cli import main

sys.exit(main())
