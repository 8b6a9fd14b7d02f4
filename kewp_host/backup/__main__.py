"""python3 -m kewp_host.backup"""

import sys

from kewp_host.backup.cli import main

sys.exit(main())
