"""Sphinx configuration of the nnabla-nas documentation (built by ``make docs``).

The build needs no network and no theme package beyond Sphinx itself: it uses the
default theme (alabaster) and no intersphinx.
"""
import os
import sys

# Document the package in this checkout, not whichever copy happens to be installed.
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, ROOT)
# Local Sphinx extensions (config_reference: the ``config-schema`` directive).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "_ext"))

import nnabla_nas  # noqa: E402  (nnabla logs a few INFO lines on import; harmless)
import nnabla_nas.builtins  # noqa: E402,F401  (the registries the config tables list)

project = "nnabla-nas"
author = "nnabla-nas contributors"
copyright = "nnabla-nas contributors"
version = ".".join(nnabla_nas.__version__.split(".")[:2])
release = nnabla_nas.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "config_reference",
    "myst_parser",
]

# Google-style docstrings only.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_include_init_with_doc = False

autodoc_member_order = "bysource"
autodoc_default_options = {
    "show-inheritance": True,
}

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "requirements.txt"]

html_theme = "alabaster"
html_title = f"nnabla-nas {release}"


# --------------------------------------------------------------------------- autodoc
# Module creates its per-instance state in ``__new__(cls, *args, **kwargs)`` so that
# subclasses need no ``super().__init__()``. autodoc prefers ``__new__`` to ``__init__``
# and would show every layer as ``Conv(*args, **kwargs)``; show the constructor that
# users actually call, ``__init__``, instead.
def _module_class_signature(app, what, name, obj, options, signature, return_annotation):
    from sphinx.util.inspect import signature as get_signature, stringify_signature

    from nnabla_nas.module import Module

    if what != "class" or not (isinstance(obj, type) and issubclass(obj, Module)):
        return None
    if obj.__init__ is object.__init__:
        return "()", None
    sig = get_signature(obj.__init__, bound_method=True,
                        type_aliases=app.config.autodoc_type_aliases)
    unqualified = app.config.autodoc_typehints_format == "short"
    return stringify_signature(sig, show_return_annotation=False,
                               unqualified_typehints=unqualified), None


# Private helper bases (``_Activation``, ``_Pool``, ``_IndexedChildren``) are not
# documented: show the public classes they derive from instead.
def _public_bases(app, name, obj, options, bases):
    public = []

    def add(cls):
        if cls.__name__.startswith("_"):
            for base in cls.__bases__:
                add(base)
        elif cls is not object and cls not in public:
            public.append(cls)

    for base in list(bases):
        add(base)
    bases[:] = public or [object]


# Registries and tables that a package re-exports (``nnabla_nas.dataset.DATASETS`` is
# defined in ``nnabla_nas.dataset.base``) have their ``#:`` comment in the module that
# defines them. autodoc looks for it only in the module they are documented under and
# otherwise shows the docstring of their type (``Registry``, ``list``, ``Genotype``):
# take the comment from the module that defines them instead.
def _attribute_comment(modname, attr):
    from sphinx.pycode import ModuleAnalyzer
    from sphinx.errors import PycodeError

    try:
        analyzer = ModuleAnalyzer.for_module(modname)
        analyzer.analyze()
    except PycodeError:
        return None
    return analyzer.attr_docs.get(("", attr))


def _reexported_data_doc(app, what, name, obj, options, lines):
    if what != "data":
        return
    modname, _, attr = name.rpartition(".")
    if _attribute_comment(modname, attr) is not None:
        return
    for other in sorted(sys.modules):
        module = sys.modules[other]
        if other.startswith("nnabla_nas.") and getattr(module, attr, None) is obj:
            comment = _attribute_comment(other, attr)
            if comment is not None:
                lines[:] = list(comment)
                return


def setup(app):
    app.connect("autodoc-process-signature", _module_class_signature)
    app.connect("autodoc-process-bases", _public_bases)
    app.connect("autodoc-process-docstring", _reexported_data_doc)
