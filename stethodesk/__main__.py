import sys

from stethodesk.cli import main

sys.exit(main())
