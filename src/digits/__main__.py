"""``python -m digits`` runs the same CLI as the ``digits`` command."""

import sys

from digits.cli import main

sys.exit(main())
