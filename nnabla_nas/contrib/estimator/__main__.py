"""``python -m nnabla_nas.contrib.estimator export OUT ...``: see :mod:`.bundle`."""
import sys

from .bundle import main

sys.exit(main())
