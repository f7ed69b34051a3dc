"""How the architecture weights moved during a search: a record of every alpha's
softmax per epoch (:class:`AlphaHistory`) and its plot (:func:`plot_alpha_history`).

The plot has one panel per row of probabilities (a DARTS edge, a MobileNetV2 block...)
and one line per candidate. It is drawn with matplotlib's object API (a ``Figure`` on an
Agg canvas), which touches no global state, so it is safe in a run and in tests.
"""
from __future__ import annotations

import json
import math
import os
from collections import OrderedDict
from typing import (TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple,
                    Union)

import numpy as np

from ..module.mixedop import softmax
from ..utils.output import atomic_write_text
from ..utils.output import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PathLike = Union[str, "os.PathLike[str]"]
CandidateNames = Union[Sequence[str], Mapping[str, Sequence[str]], None]

#: The ``version`` field of the JSON files :meth:`AlphaHistory.save` writes.
VERSION = 1
_KEYS = ("version", "epochs", "alphas")


def softmax_rows(values: Any) -> np.ndarray:
    """Softmax over the last axis of ``values`` as a 2-D array ``(rows, candidates)``
    (a flat array is one row); the softmax MixedOp samples from."""
    z = np.asarray(values, dtype=np.float64)
    if z.ndim == 0 or z.size == 0:
        raise ValueError(f"softmax_rows: expected a non-empty array, got shape {z.shape}")
    return np.stack([softmax(row) for row in z.reshape(-1, z.shape[-1])])


class AlphaHistory:
    """The softmax of every architecture parameter, recorded once per epoch.

    Call :meth:`record` at the end of each epoch and :meth:`save` after it; a resumed
    run :meth:`load`\\ s the file, and recording an epoch again replaces that epoch and
    every later one, so the history matches the checkpoint the run resumed from.

    Example:
        >>> h = AlphaHistory()
        >>> h.record(0, {"alpha": np.zeros(4)})
        >>> h.record(1, {"alpha": np.log([1.0, 1.0, 1.0, 5.0])})
        >>> h.arrays()["alpha"].round(3).tolist()
        [[[0.25, 0.25, 0.25, 0.25]], [[0.125, 0.125, 0.125, 0.625]]]
    """

    def __init__(self) -> None:
        self._epochs: List[int] = []
        self._probs: "OrderedDict[str, List[np.ndarray]]" = OrderedDict()

    def __len__(self) -> int:
        return len(self._epochs)

    @property
    def epochs(self) -> List[int]:
        """The recorded epochs (0-based, increasing)."""
        return list(self._epochs)

    def record(self, epoch: int, alphas: Mapping[str, Any]) -> None:
        """Record the softmax rows of ``alphas`` for ``epoch``.

        Args:
            epoch: The 0-based epoch that just ended. Entries for this epoch and later
                ones (left by a run that was interrupted) are dropped first.
            alphas: Architecture parameters by name (``model.get_arch_parameters()``:
                anything with a ``.d`` array, or arrays), the same names and shapes
                every epoch.

        Raises:
            ValueError: if the names or shapes differ from the recorded ones.
        """
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) \
                or epoch < 0:
            raise ValueError(f"AlphaHistory.record: epoch: expected an int >= 0, "
                             f"got {epoch!r}")
        if not alphas:
            raise ValueError("AlphaHistory.record: alphas: expected at least one "
                             "architecture parameter, got none")
        probs = OrderedDict((name, softmax_rows(getattr(p, "d", p)))
                            for name, p in alphas.items())
        keep = sum(1 for e in self._epochs if e < epoch)
        del self._epochs[keep:]
        for rows in self._probs.values():
            del rows[keep:]
        if self._epochs:
            self._check_like_recorded(probs)
        else:
            self._probs = OrderedDict((name, []) for name in probs)
        self._epochs.append(int(epoch))
        for name, rows in probs.items():
            self._probs[name].append(rows)

    def _check_like_recorded(self, probs: Mapping[str, np.ndarray]) -> None:
        missing = [n for n in self._probs if n not in probs]
        unexpected = [n for n in probs if n not in self._probs]
        if missing or unexpected:
            raise ValueError(f"AlphaHistory.record: alphas: other names than the "
                             f"recorded epochs; missing {missing}, unexpected {unexpected}")
        for name, rows in probs.items():
            before = self._probs[name][0].shape
            if rows.shape != before:
                raise ValueError(f"AlphaHistory.record: alphas[{name!r}]: softmax rows "
                                 f"of shape {rows.shape}, the recorded epochs have "
                                 f"{before}")

    def arrays(self) -> "OrderedDict[str, np.ndarray]":
        """Each alpha's probabilities, shape ``(epochs, rows, candidates)``."""
        return OrderedDict((name, np.stack(rows)) for name, rows in self._probs.items())

    def to_dict(self) -> Dict[str, Any]:
        """The JSON form: ``version``, ``epochs`` and the nested lists of
        :meth:`arrays` under ``alphas``."""
        return {"version": VERSION, "epochs": list(self._epochs),
                "alphas": {name: a.tolist() for name, a in self.arrays().items()}}

    @classmethod
    def from_dict(cls, data: Any, source: str = "alpha history") -> "AlphaHistory":
        """Parse the JSON form strictly.

        Raises:
            ValueError: naming ``source`` and the bad key.
        """
        if not isinstance(data, dict):
            raise ValueError(f"{source}: expected a JSON object with keys {list(_KEYS)}, "
                             f"got {type(data).__name__}")
        unknown = [k for k in data if k not in _KEYS]
        missing = [k for k in _KEYS if k not in data]
        if unknown or missing:
            raise ValueError(f"{source}: expected the keys {list(_KEYS)}; unknown "
                             f"{unknown}, missing {missing}")
        if data["version"] != VERSION or isinstance(data["version"], bool):
            raise ValueError(f"{source}: version: expected {VERSION}, got "
                             f"{data['version']!r}")
        epochs = data["epochs"]
        if not isinstance(epochs, list) or any(
                isinstance(e, bool) or not isinstance(e, int) or e < 0 for e in epochs) \
                or any(a >= b for a, b in zip(epochs, epochs[1:])):
            raise ValueError(f"{source}: epochs: expected increasing ints >= 0, "
                             f"got {epochs!r}")
        alphas = data["alphas"]
        if not isinstance(alphas, dict) or (epochs and not alphas):
            raise ValueError(f"{source}: alphas: expected an object of probability "
                             f"arrays by name, got {alphas!r}")
        history = cls()
        history._epochs = list(epochs)
        for name, values in alphas.items():
            history._probs[name] = list(_probability_array(
                f"{source}: alphas.{name}", values, len(epochs)))
        return history

    def save(self, path: PathLike) -> None:
        """Write the history as JSON, atomically."""
        atomic_write_text(os.fspath(path), json.dumps(self.to_dict()) + "\n")

    @classmethod
    def load(cls, path: PathLike) -> "AlphaHistory":
        """Read a file written by :meth:`save`.

        Raises:
            FileNotFoundError: if ``path`` does not exist.
            ValueError: naming the file and the bad key.
        """
        source = os.fspath(path)
        with open(source, encoding="utf-8") as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"{source}: not valid JSON: {e}") from e
        return cls.from_dict(data, source)

    def plot(self, path: PathLike, candidate_names: CandidateNames = None) -> str:
        """:func:`plot_alpha_history` of this history, epochs counted from 1."""
        return plot_alpha_history(self.arrays(), path, candidate_names,
                                  epochs=[e + 1 for e in self._epochs])


def _probability_array(where: str, values: Any, epochs: int) -> np.ndarray:
    """``values`` as a finite float array ``(epochs, rows, candidates)``."""
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: expected nested lists of numbers: {e}") from e
    if a.ndim == 2:
        a = a[:, None, :]
    if a.ndim != 3 or a.shape[0] != epochs or 0 in a.shape:
        raise ValueError(f"{where}: expected shape ({epochs}, rows, candidates) or "
                         f"({epochs}, candidates), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{where}: values must be finite")
    return a


def _panels(history: Mapping[str, Any], candidate_names: CandidateNames
            ) -> List[Tuple[str, np.ndarray, List[str]]]:
    """``(title, probabilities (epochs, candidates), candidate names)`` per panel."""
    if not isinstance(history, Mapping) or not history:
        raise ValueError("plot_alpha_history: history: expected a non-empty mapping of "
                         "alpha names to arrays")
    first = next(iter(history.values()))
    epochs = int(np.shape(first)[0]) if np.ndim(first) else 0
    panels = []
    for name, values in history.items():
        a = _probability_array(f"plot_alpha_history: history[{name!r}]", values, epochs)
        if isinstance(candidate_names, Mapping):
            names = candidate_names.get(name)
        else:
            names = candidate_names
        names = [str(i) for i in range(a.shape[2])] if names is None else list(names)
        if len(names) != a.shape[2]:
            raise ValueError(f"plot_alpha_history: candidate_names: {len(names)} names "
                             f"for the {a.shape[2]} candidates of {name!r}")
        for row in range(a.shape[1]):
            title = name if a.shape[1] == 1 else f"{name} [{row}]"
            panels.append((title, a[:, row, :], names))
    return panels


def alpha_figure(history: Mapping[str, Any], candidate_names: CandidateNames = None,
                 epochs: Optional[Sequence[float]] = None) -> "Figure":
    """The figure :func:`plot_alpha_history` saves (see there for the arguments).

    The panels stand in a grid about 1.5 times wider than tall; when every panel has
    the same candidates they share one legend above the grid, otherwise each panel
    has its own.
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = _panels(history, candidate_names)
    length = panels[0][1].shape[0]
    x = np.arange(1, length + 1) if epochs is None else np.asarray(epochs, dtype=float)
    if x.shape != (length,):
        raise ValueError(f"plot_alpha_history: epochs: expected {length} values, one per "
                         f"recorded epoch, got {x.shape[0] if x.ndim else x!r}")
    cols = min(len(panels), math.ceil(math.sqrt(1.5 * len(panels))))
    rows = math.ceil(len(panels) / cols)
    shared = all(names == panels[0][2] for _, _, names in panels)
    width, height = 2.6 * cols, 2.0 * rows + (0.5 if shared else 0)
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    # Fixed margins in inches (room for tick labels, titles and the shared legend):
    # matplotlib's constrained layout measures every text and took most of the time.
    fig.subplots_adjust(left=0.55 / width, right=1 - 0.15 / width, bottom=0.45 / height,
                        top=1 - (0.65 if shared else 0.3) / height, wspace=0.3, hspace=0.5)
    most = max(len(names) for _, _, names in panels)
    cmap = colormaps["tab10" if most <= 10 else "tab20" if most <= 20 else "viridis"]
    colours = [cmap(i / max(most - 1, 1)) if most > 20 else cmap(i) for i in range(most)]
    marker = "o" if length == 1 else None
    for n, (title, probs, names) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, n + 1)
        for c, name in enumerate(names):
            ax.plot(x, probs[:, c], color=colours[c], label=name, marker=marker,
                    markersize=3, linewidth=1.2)
        ax.set_title(title, fontsize=8)
        ax.set_ylim(0, 1)
        ax.tick_params(labelsize=7)
        if n + cols >= len(panels):  # no panel below
            ax.set_xlabel("epoch", fontsize=7)
        if n % cols == 0:
            ax.set_ylabel("softmax", fontsize=7)
        if not shared:
            ax.legend(fontsize=6)
    if shared:
        handles, labels = fig.axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1.0),
                   ncols=min(len(labels), 8), fontsize=8, frameon=False)
    return fig


def plot_alpha_history(history: Mapping[str, Any], path: PathLike,
                       candidate_names: CandidateNames = None,
                       epochs: Optional[Sequence[float]] = None, dpi: int = 100) -> str:
    """Plot how every alpha's softmax moved, one panel per row of probabilities, and
    save it as a PNG.

    Args:
        history: By alpha name, softmax probabilities of shape
            ``(epochs, rows, candidates)`` or ``(epochs, candidates)``, every alpha with
            the same number of epochs (as :meth:`AlphaHistory.arrays` gives).
        path: The PNG file to write (atomically).
        candidate_names: The legend's names of the candidates: one list for every
            alpha, or lists by alpha name (default: the candidates' indices).
        epochs: The x value of each recorded epoch (default ``1, 2, ...``).
        dpi: Resolution of the PNG.

    Returns:
        ``path``.

    Raises:
        ValueError: naming the alpha whose array or names do not fit.
    """
    fig = alpha_figure(history, candidate_names, epochs)
    path = os.fspath(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return path
