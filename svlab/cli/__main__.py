"""`python -m svlab.cli`: the command line, as `svlab`."""

import sys

from . import main

sys.exit(main())
