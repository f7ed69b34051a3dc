"""`Run`: everything a searcher or trainer works with, built once by the command."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from ..contrib.model import Model
from ..dataset import DatasetSplits
from ..utils.communicator import Communicator, SingleProcess
from ..utils.context import Device
from ..utils.output import RunOutput


@dataclass(frozen=True)
class Run:
    """One phase of a run: the model, its data, its config section and where it
    writes. Built by the command that runs the phase and handed whole to the searcher
    or trainer, which keeps no other copy of these.

    Attributes:
        model: The supernet (search) or the network to train.
        data: The dataset splits.
        config: The phase's config section (``search`` or ``train``).
        output: The run's output folder.
        seed: Seeds the data order and every epoch's random numbers.
        space: The search space (a :class:`~nnabla_nas.contrib.spaces.SearchSpace`
            subclass), for phases that derive or draw architectures.
        device: The device the run computes on and hardware costs are estimated for.
        quiet: No progress bars.
        checkpoint_every: Also checkpoint every this many steps (0: per epoch only).
        train_options: For a search, the space's train options of the network the run
            delivers for the architecture found (its costs and hard bounds are on that
            network); None: the space's default train options.
        comm: The processes of a data-parallel job (one by default): each rank
            trains on its part of every batch, gradients are averaged, and only
            rank 0 writes (its ``output``; the others get a
            :class:`~nnabla_nas.utils.output.RankOutput`).
    """

    model: Model
    data: DatasetSplits
    config: Any
    output: RunOutput
    seed: int = 0
    space: Optional[type] = None
    device: Device = field(default_factory=Device)
    quiet: bool = False
    checkpoint_every: int = 0
    train_options: Any = None
    comm: Communicator = field(default_factory=SingleProcess)
