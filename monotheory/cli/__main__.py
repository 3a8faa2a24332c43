"""``python -m monotheory.cli …``: the same as the ``monotheory`` command."""

import sys

from monotheory.cli import main

sys.exit(main())
