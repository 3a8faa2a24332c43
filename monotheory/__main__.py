import sys

from monotheory.cli import main

sys.exit(main())
