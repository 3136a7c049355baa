"""``python -m tpf.cli``: the ``tpf`` command without the installed script (demos use it)."""

import sys

from tpf.cli.main import main

sys.exit(main())
