"""The command line: python main.py --config FILE.yaml, or python main.py COMMAND ...
(search, train, derive, estimate, calibrate, export, list); --help on each."""
import sys

from nnabla_nas.cli import main

if __name__ == "__main__":
    sys.exit(main())
