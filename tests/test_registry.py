"""Registry: creation by name, duplicates refused, helpful unknown-name errors."""
import pytest

from nnabla_nas.registry import Registry


def test_register_and_get():
    reg = Registry("dataset")

    @reg.register("digits")
    class Digits:
        pass

    assert reg.get("digits") is Digits and "digits" in reg and reg.names() == ["digits"]


def test_duplicate_registration_is_an_error():
    reg = Registry("searcher")
    reg.register("darts")(object)
    with pytest.raises(KeyError, match="searcher 'darts' is already registered"):
        reg.register("darts")(int)


def test_unknown_name_lists_valid_names_and_the_closest():
    reg = Registry("search space")
    for name in ("darts", "proxylessnas", "mobilenet"):
        reg.register(name)(object)
    with pytest.raises(KeyError, match="unknown search space 'dart'; did you mean 'darts'"
                                       r"\? Valid names: darts, mobilenet, proxylessnas"):
        reg.get("dart")
    with pytest.raises(KeyError) as info:
        reg.get("zzz")
    assert "did you mean" not in str(info.value)


def test_bad_names_are_refused():
    with pytest.raises(ValueError, match="non-empty string"):
        Registry("op").register("")


def test_temporarily_registers_for_a_block_only():
    reg = Registry("estimator")
    reg.register("memory")(object)
    with reg.temporarily("layers", int) as obj:
        assert obj is int and reg.get("layers") is int
        with pytest.raises(KeyError, match="already registered"):
            reg.register("layers")(float)
    assert "layers" not in reg and reg.names() == ["memory"]
    with pytest.raises(RuntimeError):
        with reg.temporarily("layers", int):
            raise RuntimeError("the block fails")
    assert "layers" not in reg
    with pytest.raises(KeyError, match="already registered"):
        with reg.temporarily("memory", int):
            pass
    assert reg.get("memory") is object


def test_unknown_message_among_some_names():
    reg = Registry("estimator")
    for name in ("latency", "latency_graph", "memory"):
        reg.register(name)(object)
    assert reg.unknown_message("latncy", among=["latency", "memory"]) == (
        "unknown estimator 'latncy'; did you mean 'latency'? Valid names: latency, memory")
