"""The package: its docstring example runs, and importing it imports no converter."""
import doctest
import subprocess
import sys

import nnabla_nas.export as export_package


def test_docstring_example_runs():
    result = doctest.testmod(export_package)
    assert result.attempted > 0 and result.failed == 0


def test_import_loads_neither_onnx_nor_the_converter():
    code = ("import sys, nnabla_nas.export; print(sorted(m for m in sys.modules if "
            "m.split('.')[0] in ('onnx', 'onnxruntime') or 'converter' in m))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.strip() == "[]"
