"""Small NATS-Bench topology benchmark files, written with ``nats_bench``'s own record
classes (ResultsCount, ArchResults) and its ``pickle_save``, in the two forms its
``create`` reads: the ``-simple`` folder (fast mode) and the single ``.pickle.pbz2``.

Only the architectures given have results; the list of architectures is the whole
space's, as in the real files. The figures are made up per architecture so that a
test can check which one it read: accuracy rises with the number of 3x3 convolutions,
and each dataset, split and hp gets its own offset.
"""
from __future__ import annotations

import os
from typing import Dict, Iterable, List

from nnabla_nas.contrib.nasbench201_table import all_arch_strings

#: Evaluation sets per dataset name of the API, as the benchmark records them.
EVAL_SETS = {"cifar10-valid": ("x-valid", "ori-test"), "cifar10": ("ori-test",),
             "cifar100": ("x-valid", "x-test", "ori-test"),
             "ImageNet16-120": ("x-valid", "x-test", "ori-test")}
SEEDS = (777, 888)
OFFSET = {"x-valid": 0.0, "x-test": 0.5, "ori-test": 0.25}


def accuracy(arch: str, data: str, eval_set: str, hp: str, seed: int) -> float:
    """The made-up accuracy (percent) of one trial."""
    base = 50.0 + 5.0 * arch.count("nor_conv_3x3") + 2.0 * arch.count("nor_conv_1x1")
    return base + OFFSET[eval_set] + (0.1 if hp == "200" else 0.0) \
        + 0.01 * list(EVAL_SETS).index(data) + (0.02 if seed == 888 else 0.0)


def costs(arch: str) -> Dict[str, float]:
    """The made-up costs: params (M), flops (M), latency (s)."""
    convs = arch.count("nor_conv_3x3") + 0.2 * arch.count("nor_conv_1x1")
    return {"params": 0.1 + 0.2 * convs, "flops": 10.0 + 20.0 * convs,
            "latency": 0.01 + 0.002 * convs}


def results(index: int, arch: str, hps: Iterable[str], datasets: Iterable[str]) -> dict:
    """``{hp: ArchResults state dict}`` of one architecture."""
    from nats_bench.api_utils import ArchResults, ResultsCount

    out = {}
    for hp in hps:
        epochs = int(hp)
        record = ArchResults(index, arch)
        for data in datasets:
            for seed in SEEDS:
                c = costs(arch)
                r = ResultsCount(data, None, None, None, c["params"], c["flops"],
                                 {"name": "infer.tiny", "C": 16, "N": 5, "channel": 16,
                                  "num_cells": 5, "arch_str": arch, "class_num": 10},
                                 seed, epochs, [c["latency"]])
                r.update_train_info({e: 90.0 for e in range(epochs)}, None,
                                    {e: 0.3 for e in range(epochs)},
                                    {e: 1.5 for e in range(epochs)})
                sets = EVAL_SETS[data]
                keys = [f"{s}@{e}" for s in sets for e in range(epochs)]
                r.update_eval({k: accuracy(arch, data, k.split("@")[0], hp, seed)
                               for k in keys}, {k: 0.5 for k in keys},
                              {k: 0.2 for k in keys})
                record.update(data, seed, r)
        out[hp] = record.state_dict()
    return out


def write_tss(path: str, archs: List[str], fast: bool = True, hps=("12", "200"),
              datasets=tuple(EVAL_SETS), meta_archs=None) -> str:
    """A topology benchmark with the results of ``archs`` at ``path``: the folder
    (``fast``) or the file ``path`` + ``.pickle.pbz2``; returns what to open."""
    from nats_bench.api_utils import pickle_save

    meta = list(all_arch_strings() if meta_archs is None else meta_archs)
    index = {a: i for i, a in enumerate(meta)}
    if fast:
        os.makedirs(path, exist_ok=True)
        pickle_save({"meta_archs": meta}, os.path.join(path, "meta.pickle"))
        for a in archs:
            pickle_save(results(index[a], a, hps, datasets),
                        os.path.join(path, f"{index[a]:06d}.pickle"))
        return path
    pickle_save({"meta_archs": meta, "evaluated_indexes": [index[a] for a in archs],
                 "arch2infos": {index[a]: results(index[a], a, hps, datasets)
                                for a in archs}}, path + ".pickle")
    return path + ".pickle.pbz2"
