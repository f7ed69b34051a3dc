"""nnabla-nas: hardware-aware neural architecture search on NNabla.

Importing the package has no side effects: no argument parsing, no folders, no logging
set-up, and the CUDA extension is never imported here.
"""

__version__ = "0.1.0"
