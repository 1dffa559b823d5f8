import sys

from roost.node.cli import main

sys.exit(main())
