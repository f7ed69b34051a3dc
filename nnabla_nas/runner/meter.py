"""Running averages of per-batch metrics."""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Dict, Mapping


class NonFiniteError(RuntimeError):
    """A loss or metric became NaN or infinite."""


class Meter:
    """Sample-weighted running means of named metrics."""

    def __init__(self):
        self._sums: Dict[str, float] = OrderedDict()
        self._counts: Dict[str, int] = OrderedDict()

    def update(self, values: Mapping[str, float], n: int = 1) -> None:
        for k, v in values.items():
            self._sums[k] = self._sums.get(k, 0.0) + float(v) * n
            self._counts[k] = self._counts.get(k, 0) + n

    def means(self) -> Dict[str, float]:
        return OrderedDict((k, self._sums[k] / self._counts[k]) for k in self._sums)

    def summed_over(self, comm) -> "Meter":
        """The meter of every rank's samples together (``comm``: a
        :class:`~nnabla_nas.utils.communicator.Communicator` whose ranks all hold
        meters of the same names): sums and counts added over the ranks."""
        if comm.size == 1:
            return self
        keys = list(self._sums)
        (total,) = comm.allreduce_mean([[self._sums[k] for k in keys]
                                        + [self._counts[k] for k in keys]])
        total = total * comm.size
        meter = Meter()
        for i, k in enumerate(keys):
            meter._sums[k] = float(total[i])
            meter._counts[k] = int(round(total[len(keys) + i]))
        return meter

    def state_dict(self) -> dict:
        """The sums and counts, for checkpoints."""
        return {"sums": dict(self._sums), "counts": dict(self._counts),
                "order": list(self._sums)}

    @classmethod
    def from_state(cls, state: Mapping) -> "Meter":
        """A meter continuing from :meth:`state_dict`."""
        meter = cls()
        for k in state["order"]:
            meter._sums[k] = float(state["sums"][k])
            meter._counts[k] = int(state["counts"][k])
        return meter


def check_finite(values: Mapping[str, float], where: str) -> None:
    """Raise :class:`NonFiniteError` naming ``where`` and the quantity if any value is
    NaN or infinite."""
    for k, v in values.items():
        if not math.isfinite(float(v)):
            raise NonFiniteError(f"{where}: {k} is {v}; stopping (the last good "
                                 "checkpoint is kept)")
