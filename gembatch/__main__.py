"""`python -m gembatch`."""

import sys

from gembatch.cli import main

sys.exit(main())
