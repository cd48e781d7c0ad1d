"""``python -m reprobook`` (and ``torchrun ... -m reprobook``) is the ``reprobook`` command."""

import sys

from reprobook.cli import main

sys.exit(main())
