"""Zero-cost proxies: scores of an untrained network, computed on one batch in about a
second, that rank architectures without training them (Mellor et al., 2021; Tanaka et
al., 2020; Abdelfattah et al., 2021).

Each proxy is a function ``proxy(model, batch) -> float`` registered in
:data:`PROXIES` (higher is better for every one); :func:`score` computes several and
leaves the network as it found it. The built-in ones: ``naswot`` (:mod:`.naswot`),
``synflow`` (:mod:`.synflow`), ``snip``, ``grad_norm`` and ``jacov``
(:mod:`.gradient`), and the baselines ``params`` and ``flops`` (:mod:`.baseline`).

Typical use::

    import nnabla_nas.builtins  # registers the built-in proxies
    from nnabla_nas.contrib.proxies import Batch, score
    scores = score(model, Batch(x, y), ["naswot", "synflow"])
"""
from .base import PROXIES, Batch, preserved, score, weight_tensors

__all__ = ["PROXIES", "Batch", "score", "preserved", "weight_tensors"]
