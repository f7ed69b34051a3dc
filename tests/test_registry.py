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
