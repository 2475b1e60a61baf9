"""`python -m svlab.cli`: the command line, as `svlab`."""

import sys

from svlab.face.cli import main

sys.exit(main())
