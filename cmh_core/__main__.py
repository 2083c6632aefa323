"""``python -m cmh_core``: see `cmh_core.cli`."""

import sys

from cmh_core.cli import main

sys.exit(main())
