"""Scoring one architecture of a search space by its accuracy on the validation split,
for the black-box searchers (:mod:`~nnabla_nas.runner.searcher.blackbox`) and the
supernet trainers that share their paths.

Two ways, one place:

* :func:`inherited_accuracy`: the architecture runs inside a trained supernet
  (:meth:`~nnabla_nas.contrib.spaces.SearchSpace.fixed`) with the weights it inherits;
  its batch-normalization statistics are first estimated afresh on a few training
  batches (the supernet's running statistics mix every path's, which makes inherited
  accuracy meaningless, Guo et al. 2020 section 3.3), and restored afterwards.
* :func:`trained_accuracy`: the architecture's path of the supernet is initialized
  afresh and trained for a short budget before it is evaluated (for spaces without a
  trained supernet).

and one without training: :func:`proxy_score`, a zero-cost proxy of the architecture's
untrained network (:mod:`~nnabla_nas.contrib.proxies`).

Both are deterministic functions of their arguments (data order and initialization are
seeded), so a search that resumes from its journal scores candidates as it would have.

:func:`score` is the one entry point the searchers use: a candidate's accuracy as a
function of a :class:`CandidateJob` (what every candidate of the search shares), the
candidate's index and its choices only. It is the same computation in the search's own
process and in a worker process (:mod:`~nnabla_nas.runner.executor`), so results do not
depend on where, in which order or on how many workers candidates are scored.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence

import nnabla as nn
import nnabla.random
import numpy as np

from ..contrib.architecture import Architecture
from ..contrib.proxies import Batch, score as proxy_scores
from ..dataset import DataLoader, DatasetSplits
from ..module import Module, training_mode
from ..module.batchnorm import reestimated_statistics
from .loop import Evaluator
from .meter import check_finite
from .optimizer import Optimizer
from .randomness import seeded_globals


def candidate_seed(seed: int, index: int) -> int:
    """The seed of candidate ``index`` of a run seeded ``seed`` (a 31-bit integer)."""
    return int(np.random.RandomState([seed, index]).randint(2**31 - 1))


def _outputs(out: Any) -> List[nn.Variable]:
    return list(out) if isinstance(out, (list, tuple)) else [out]


def validation_accuracy(loop: Evaluator) -> float:
    """Accuracy of ``loop.model`` as it runs now (its path, its statistics) on the
    validation split, in inference mode."""
    loop.reset_eval_graphs()  # the path changed since the graphs were built
    try:
        return 1.0 - loop.evaluate(loop.data.valid, "valid")["error"]
    finally:
        loop.reset_eval_graphs()


#: Per loop, the batch-norm re-estimation batches drawn so far, by (count, seed).
_BN_BATCHES: "weakref.WeakKeyDictionary[Any, Dict[Any, List[np.ndarray]]]" = \
    weakref.WeakKeyDictionary()


def reestimation_batches(loop: Evaluator, count: int, seed: int) -> List[np.ndarray]:
    """The inputs of the first ``count`` training batches (``loop.batch_size``) of an
    order shuffled with ``seed``: drawn once per loop and reused, since every
    architecture it scores is re-estimated on the same batches."""
    memo = _BN_BATCHES.setdefault(loop, {})
    key = (count, seed, loop.batch_size, id(loop.data.train))
    if key not in memo:
        with DataLoader(loop.data.train, loop.batch_size, shuffle=True, seed=seed,
                        drop_last=True) as loader:
            memo[key] = [np.array(loader.next_batch()[0]) for _ in range(count)]
    return memo[key]


def inherited_accuracy(loop: Evaluator, space: Any, arch: Architecture,
                       bn_batches: int, seed: int) -> float:
    """Validation accuracy of ``arch`` with the weights of the supernet
    ``loop.model``, after estimating its batch-normalization statistics on
    ``bn_batches`` training batches (the same batches for every architecture, drawn
    with ``seed`` once per loop, :func:`reestimation_batches`; 0 keeps the supernet's
    statistics). The supernet's statistics, path and modes are left as they were.
    """
    model = loop.model
    batches = reestimation_batches(loop, bn_batches, seed) if bn_batches else []
    with space.fixed(model, arch), reestimated_statistics(model) as begin:
        if batches:
            x = nn.Variable((loop.batch_size,) + tuple(loop.data.shape))
            with training_mode(model, True):
                for b, inputs in enumerate(batches):
                    begin(b)  # before the graph: its decay is fixed when built
                    outputs = _outputs(model(x))
                    x.d = inputs
                    nn.forward_all(outputs, clear_buffer=True)
        return validation_accuracy(loop)


def train_path(loop: Evaluator, space: Any, arch: Architecture, optimizer_config: Any,
               steps: int, seed: int) -> List[Dict[str, float]]:
    """Train the path of ``arch`` in ``loop.model`` for ``steps`` weight updates on the
    training split (batch ``loop.batch_size``, data order and dropout seeded by
    ``seed``), with a fresh optimizer of ``optimizer_config``; returns each step's
    loss and error."""
    model = loop.model
    nnabla.random.seed(seed)
    history = []
    with space.fixed(model, arch), training_mode(model, True), \
            DataLoader(loop.data.train, loop.batch_size, shuffle=True, seed=seed,
                       augment=loop.data.augment, drop_last=True) as loader:
        params = model.get_net_parameters(grad_only=True)
        optimizer = Optimizer(optimizer_config, params, steps)
        x, y = loop.placeholders(loop.batch_size)
        out = model(x)
        loss = model.loss(out, y)
        error = model.metrics(out, y)["error"]
        loss.persistent = error.persistent = True
        for step in range(steps):
            x.d, y.d = loader.next_batch()
            optimizer.zero_grad()
            nn.forward_all([loss, error], clear_no_need_grad=True)
            loss.backward(clear_buffer=True)
            values = {"loss": float(loss.d), "error": float(error.d)}
            check_finite(values, f"candidate training step {step + 1}")
            optimizer.update(step)
            history.append(values)
    return history


def reinitialize(model: Module, fresh: Module) -> None:
    """Copy the parameter values of ``fresh`` (the same supernet built anew) into
    ``model``."""
    target = model.get_parameters()
    for name, p in fresh.get_parameters().items():
        target[name].d = p.d


def trained_accuracy(loop: Evaluator, space: Any, arch: Architecture, build: Any,
                     optimizer_config: Any, epochs: int, seed: int) -> float:
    """Validation accuracy of ``arch`` trained from scratch: ``loop.model``'s weights
    are set to a fresh supernet's, ``build(rng)`` seeded with ``seed``, and the path
    of ``arch`` is trained for ``epochs`` epochs of the training split."""
    reinitialize(loop.model, build(np.random.RandomState(seed)))
    steps = epochs * max(len(loop.data.train) // loop.batch_size, 1)
    train_path(loop, space, arch, optimizer_config, steps, seed)
    with space.fixed(loop.model, arch):
        return validation_accuracy(loop)


def proxy_score(space: Any, arch: Architecture, options: Any, shape: Sequence[int],
                num_classes: int, batch: Batch, proxy: str, seed: int) -> float:
    """The zero-cost proxy ``proxy`` of ``arch``'s network as ``space`` builds it for
    training with ``options``, its initial weights drawn with ``seed``, on ``batch``
    (:func:`~nnabla_nas.contrib.proxies.score`). Layers initialized from the global
    generators draw them seeded with ``seed`` too, and those generators are left as
    they were, so the score is a function of the arguments."""
    with seeded_globals(seed):
        model = space.build_train(arch, options, tuple(shape), num_classes,
                                  np.random.RandomState(seed))
        return proxy_scores(model, batch, [proxy])[proxy]


@dataclass(frozen=True)
class CandidateJob:
    """What scoring any candidate of a search needs, and nothing of the run's outputs:
    sent once to each worker process. It pickles: the space class by reference (its
    module is imported in the worker, which registers it), the data by value (arrays)
    or by file names (images read from disk, which must then be at the same path
    where the workers run).

    Attributes:
        space: The search space (class).
        space_options: Its search options (those of the supernet).
        arch_options: The options of its architectures (``space.arch_options``).
        data: The dataset splits.
        batch_size: Batch size of the graphs (``search.batch_size``).
        seed: The run's seed.
        evaluate: ``'supernet'`` (inherited weights, :func:`inherited_accuracy`) or
            ``'train'`` (from scratch, :func:`trained_accuracy`).
        bn_batches: ``supernet``: batches of the batch-norm re-estimation.
        train_epochs: ``train``: epochs of each candidate's training.
        optimizer: ``train``: the optimizer config (``search.net_optimizer``).
        supernet: ``supernet``: the trained supernet's parameters file.
        device: The device's config name and id (``context``, ``device_id``).
    """

    space: Any
    space_options: Any
    arch_options: Mapping[str, Any]
    data: DatasetSplits
    batch_size: int
    seed: int
    evaluate: str
    bn_batches: int = 0
    train_epochs: int = 1
    optimizer: Any = None
    supernet: Optional[str] = None
    device: Sequence[Any] = ("cpu", 0)

    def build(self, rng: np.random.RandomState) -> Module:
        """A new supernet of the space, initialized from ``rng``."""
        return self.space.build_search(self.space_options, self.data.shape,
                                       self.data.num_classes, rng)


def prepare(job: CandidateJob) -> Evaluator:
    """What a worker scores ``job``'s candidates with: a supernet of its own (the
    trained one's weights loaded, for ``evaluate: supernet``) with the job's data;
    nothing is written."""
    model = job.build(np.random.RandomState(job.seed))
    if job.evaluate == "supernet":
        model.load_parameters(job.supernet)
    evaluator = Evaluator(model, job.data, job.batch_size, quiet=True)
    evaluator.phase = "search"  # as the search's own messages name it
    return evaluator


def score(job: CandidateJob, evaluator: Evaluator, index: int,
          choices: Mapping[str, str]) -> float:
    """Validation accuracy of candidate ``index`` of ``job``'s search, the
    architecture with ``choices``, scored with ``evaluator`` (the search itself, or
    :func:`prepare`'s in a worker).

    A function of ``job``, ``index`` and ``choices`` only: the random functions of
    the graphs (dropout, drop path) are seeded with the candidate's seed
    (:func:`candidate_seed`) first, and everything else the scoring draws is seeded.
    ``supernet`` leaves ``evaluator``'s supernet as it was; ``train`` sets its
    parameters afresh before training.
    """
    arch = Architecture(job.space.name, dict(job.arch_options), dict(choices))
    seed = candidate_seed(job.seed, index)
    nnabla.random.seed(seed)
    if job.evaluate == "supernet":
        # The same batches for every candidate: statistics differ by path only.
        return inherited_accuracy(evaluator, job.space, arch, job.bn_batches, job.seed)
    return trained_accuracy(evaluator, job.space, arch, job.build, job.optimizer,
                            job.train_epochs, seed)


def arch_indices(mixed_by_label: Dict[str, Sequence[Any]],
                 arch: Architecture) -> Dict[int, int]:
    """``{id(mixed op): candidate index}`` of ``arch``'s choices, for
    :meth:`~nnabla_nas.runner.regularizer.Regularizers.path_costs` (``mixed_by_label``
    as :func:`~nnabla_nas.contrib.spaces.labelled_ops` gives them)."""
    return {id(m): m.names.index(arch.choices[label])
            for label, ops in mixed_by_label.items() for m in ops}
