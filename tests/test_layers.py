"""Imports run one way: the layers of the package, checked from its source.

This module is the one place the layer order is written. Lowest first::

    utils < registry < config < module < dataset < visual < export < contrib < runner
             < commands < builtins < cli

A module may import from its own layer or lower ones only. The layer of a module is its
top-level name under ``nnabla_nas`` (``nnabla_nas/runner/searcher/darts.py`` is in
``runner``); ``__main__`` modules are entry points, in the top layer; the package's own
``__init__`` imports nothing of the package.

Every import counts: absolute and relative, at module level or inside a function,
class or ``if TYPE_CHECKING:`` block. A lazy import still couples the two modules, and
one that goes upward or closes a cycle is the first step back to modules that can only
be imported in one order. Importing ``a.b.c`` also runs the ``__init__`` of ``a`` and
``a.b``; those implicit imports are not edges here (a package's ``__init__`` importing
its own submodules is the normal case), and :func:`test_every_module_imports_alone`
catches what they would break.

Built-in components are registered by :mod:`nnabla_nas.builtins`, which the entry
points import; nothing imports a component module just to register it.
"""
import ast
import os
import subprocess
import sys
import textwrap
from typing import Dict, List, Set

import pytest

import nnabla_nas

LAYERS = ("utils", "registry", "config", "module", "dataset", "visual", "export",
          "contrib", "runner", "commands", "builtins", "cli")

PACKAGE = "nnabla_nas"
ROOT = os.path.dirname(os.path.abspath(nnabla_nas.__file__))


def module_files() -> Dict[str, str]:
    """Every module of the package by dotted name (packages by their own name)."""
    files = {}
    base = os.path.dirname(ROOT)
    for folder, _, names in os.walk(ROOT):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                dotted = os.path.relpath(path, base)[:-3].replace(os.sep, ".")
                files[dotted[:-len(".__init__")] if dotted.endswith(".__init__")
                      else dotted] = path
    return files


FILES = module_files()


class Import(tuple):
    """``(importer, imported module, file, line)``: one import statement's target."""

    importer = property(lambda self: self[0])
    target = property(lambda self: self[1])

    def where(self) -> str:
        return f"{os.path.relpath(self[2], os.path.dirname(ROOT))}:{self[3]}"


def resolve(name: str) -> str:
    """The module of the package that ``name`` (a module or a name in one) is in;
    "" outside the package."""
    while name and name not in FILES:
        name = name.rpartition(".")[0]
    return name


def imports_of(module: str) -> List[Import]:
    """Every import in ``module`` of a module of the package, wherever it stands."""
    path = FILES[module]
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read(), path)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                if node.level - 1 >= len(parts):
                    raise AssertionError(f"{path}:{node.lineno}: relative import beyond "
                                         "the package")
                prefix = ".".join(parts[:len(parts) - (node.level - 1)])
                prefix += "." + node.module if node.module else ""
            else:
                prefix = node.module or ""
            # `from a import b`: b is either a submodule of a or a name defined in a.
            names = [f"{prefix}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            target = resolve(name)
            if target and target != module:
                found.append(Import((module, target, path, node.lineno)))
    return found


def layer_of(module: str) -> int:
    """The index of ``module``'s layer in :data:`LAYERS` (the top for ``__main__``)."""
    parts = module.split(".")
    if parts[-1] == "__main__":
        return len(LAYERS) - 1
    if parts[1] not in LAYERS:
        raise AssertionError(f"{FILES[module]}: {parts[1]!r} has no layer; add it to "
                             f"LAYERS in {__file__}")
    return LAYERS.index(parts[1])


def import_graph() -> Dict[str, List[Import]]:
    return {m: imports_of(m) for m in sorted(FILES)}


def cycles(graph: Dict[str, List[Import]]) -> List[List[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for edge in graph[v]:
            w = edge.target
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph)))
    try:
        for v in graph:
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return found


def test_every_top_level_name_has_a_layer():
    tops = {m.split(".")[1] for m in FILES if "." in m}
    tops = {t for t in tops if t != "__main__"}
    assert tops <= set(LAYERS), f"without a layer in LAYERS: {sorted(tops - set(LAYERS))}"


def test_the_package_init_imports_nothing_of_the_package():
    assert imports_of(PACKAGE) == []


def test_no_import_goes_up_a_layer():
    upward = []
    for module, edges in import_graph().items():
        if module == PACKAGE:
            continue
        for edge in edges:
            if edge.target != PACKAGE and layer_of(edge.target) > layer_of(module):
                upward.append(f"{edge.where()}: {module} ({LAYERS[layer_of(module)]}) "
                              f"imports {edge.target} ({LAYERS[layer_of(edge.target)]})")
    assert not upward, "imports up the layer order " + " < ".join(LAYERS) + ":\n" + \
        "\n".join(upward)


def test_no_import_cycle():
    graph = import_graph()
    found = []
    for component in cycles(graph):
        inside = set(component)
        lines = [f"  {e.where()}: {e.importer} imports {e.target}"
                 for m in component for e in graph[m] if e.target in inside]
        found.append("cycle among " + ", ".join(component) + ":\n" + "\n".join(lines))
    assert not found, "\n".join(found)


def test_the_checks_see_relative_local_and_upward_imports(tmp_path, monkeypatch):
    # The checks themselves, on a throwaway package laid out like ours.
    pkg = tmp_path / PACKAGE
    for sub in ("config", "runner"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "config" / "schema.py").write_text(textwrap.dedent("""
        def f():
            from ..runner import loop
        """))
    (pkg / "runner" / "loop.py").write_text("from nnabla_nas.config.schema import f\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", str(pkg))
    monkeypatch.setattr(sys.modules[__name__], "FILES", module_files())
    graph = import_graph()
    assert [e.target for e in graph["nnabla_nas.config.schema"]] == \
        ["nnabla_nas.runner.loop"]
    assert cycles(graph) == [["nnabla_nas.config.schema", "nnabla_nas.runner.loop"]]
    with pytest.raises(AssertionError, match=r"config/schema.py:3: nnabla_nas.config."
                                             r"schema \(config\) imports nnabla_nas"
                                             r".runner.loop \(runner\)"):
        test_no_import_goes_up_a_layer()


# ------------------------------------------------------------ imported alone
#: A fork server: a fresh interpreter imports the third-party libraries (nothing of the
#: package), then forks one child per module; each child imports its module into an
#: interpreter where no module of the package was ever imported, and reports the
#: traceback of a failure. Forking makes one module cost its own imports only.
FORK_SERVER = r"""
import os, sys, traceback
import numpy, yaml, nnabla, nnabla.functions, nnabla.parametric_functions, nnabla.solvers
assert not [m for m in sys.modules if m == "nnabla_nas" or m.startswith("nnabla_nas.")]
failed = 0
for name in sys.argv[1:]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            __import__(name)
            os._exit(0)
        except BaseException:
            os.write(w, traceback.format_exc().encode())
            os._exit(1)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        report = f.read().decode()
    _, status = os.waitpid(pid, 0)
    if status:
        failed += 1
        print(f"--- import {name} alone failed:\n{report}")
sys.exit(1 if failed else 0)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_every_module_imports_alone():
    names = sorted(m for m in FILES if not m.endswith("__main__"))
    env = dict(os.environ, PYTHONPATH=os.path.dirname(ROOT))
    env.pop("NNABLA_NAS_PLUGINS", None)
    done = subprocess.run([sys.executable, "-c", FORK_SERVER] + names, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_registries_are_filled_by_builtins_only():
    # Importing a registry does not import the components; the builtins module does.
    code = textwrap.dedent("""
        from nnabla_nas.contrib.spaces import SEARCH_SPACES
        from nnabla_nas.runner.searcher import SEARCHERS
        from nnabla_nas.dataset import DATASETS
        from nnabla_nas.commands import COMMANDS
        from nnabla_nas.contrib.proxies import PROXIES
        from nnabla_nas.runner.executor import EXECUTORS
        before = [len(SEARCH_SPACES), len(SEARCHERS), len(DATASETS), len(COMMANDS),
                  len(PROXIES), len(EXECUTORS)]
        import importlib
        import sys
        import nnabla_nas.builtins
        importlib.reload(nnabla_nas.builtins)   # twice: nothing registered again
        print(before, SEARCH_SPACES.names(), SEARCHERS.names(), DATASETS.names(),
              COMMANDS.names(), EXECUTORS.names(), "ray" in sys.modules,
              PROXIES.names())
        """)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(ROOT))
    env.pop("NNABLA_NAS_PLUGINS", None)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    before, *after = done.stdout.strip().split("] [")
    assert before == "[0, 0, 0, 0, 0, 0"
    assert "['local', 'ray'] False" in done.stdout  # registered, ray not imported
    assert "'darts', 'proxylessnas'" in after[0] and "'digits'" in done.stdout
    assert "'search', 'train', 'derive', 'estimate', 'score', 'calibrate', 'export', 'list'" \
        in done.stdout
    assert "'naswot'" in after[-1] and "'synflow'" in after[-1]


def test_imports_are_counted_per_statement():
    # `from . import a, b` is two edges; a name defined in a module is that module.
    edges = imports_of("nnabla_nas.builtins")
    targets = {e.target for e in edges}
    assert {"nnabla_nas.contrib.darts.space", "nnabla_nas.runner.searcher.pnas",
            "nnabla_nas.commands.listing"} <= targets
