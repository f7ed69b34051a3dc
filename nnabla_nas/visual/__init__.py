"""Pictures of architectures and of the search.

* :mod:`.dot`: DOT text (:class:`Digraph`) and its drawing by graphviz's ``dot``
  (:func:`render`); without graphviz the ``.gv`` text is still written and
  :class:`GraphvizMissing` carries a one-line install hint.
* :mod:`.cells`: DARTS normal and reduction cells, from plain data
  (:func:`draw_cells`).
* :mod:`.blocks`: a chain of MobileNetV2-style blocks (:func:`draw_blocks`).
* :mod:`.alphas`: every alpha's softmax per epoch (:class:`AlphaHistory`) and its plot
  (:func:`plot_alpha_history`, matplotlib).
* :mod:`.images`: a PNG into TensorBoard (:func:`add_image`).

Nothing here is drawn or imported from matplotlib until a function is called.
"""
from .alphas import AlphaHistory, alpha_figure, plot_alpha_history, softmax_rows
from .blocks import blocks_dot, draw_blocks
from .cells import cell_dot, cells_dots, draw_cells
from .dot import (Digraph, GraphvizError, GraphvizMissing, find_dot, quote, render,
                  render_all)
from .images import add_image, png_to_array

__all__ = ["AlphaHistory", "alpha_figure", "plot_alpha_history", "softmax_rows",
           "blocks_dot", "draw_blocks", "cell_dot", "cells_dots", "draw_cells",
           "Digraph", "GraphvizError", "GraphvizMissing", "find_dot", "quote", "render",
           "render_all", "add_image", "png_to_array"]
