"""``python -m pcmci_edu.cli`` (and ``torchrun ... -m pcmci_edu.cli train ...``): the console script."""

import sys

from pcmci_edu.cli.entry import main

sys.exit(main())
