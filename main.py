"""Run an architecture search and/or training: python main.py --config FILE.yaml."""
import sys

from nnabla_nas.cli import main

if __name__ == "__main__":
    sys.exit(main())
