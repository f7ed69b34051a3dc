"""The alpha history: recording softmax rows, its JSON file and its plot."""
import doctest
import json

import nnabla as nn
import numpy as np
import pytest
from PIL import Image

from nnabla_nas.module.mixedop import softmax
from nnabla_nas.visual import alphas as alphas_module
from nnabla_nas.visual.alphas import (AlphaHistory, alpha_figure, plot_alpha_history,
                                      softmax_rows)

DARTS_NAMES = [f"alpha_{kind}/{e}" for kind in ("normal", "reduce") for e in range(14)]


def test_docstring_examples():
    assert doctest.testmod(alphas_module).failed == 0


def test_softmax_rows_is_mixedops_softmax_per_row():
    values = np.random.RandomState(0).randn(2, 3, 5)
    rows = softmax_rows(values)
    assert rows.shape == (6, 5)
    np.testing.assert_allclose(rows[4], softmax(values[1, 1]))
    np.testing.assert_allclose(softmax_rows(values[0, 0]), [softmax(values[0, 0])])


def recorded(epochs=3, seed=0):
    """A history of a parameter (as NNabla holds it) and a 2-row array alpha."""
    rng = np.random.RandomState(seed)
    history = AlphaHistory()
    p = nn.Variable.from_numpy_array(np.zeros(4, dtype=np.float32))
    for epoch in range(epochs):
        p.d = rng.randn(4)
        history.record(epoch, {"cell/alpha": p, "block": rng.randn(2, 3)})
    return history


def test_record_keeps_each_epochs_softmax_rows():
    history = recorded()
    arrays = history.arrays()
    assert list(arrays) == ["cell/alpha", "block"]
    assert arrays["cell/alpha"].shape == (3, 1, 4)
    assert arrays["block"].shape == (3, 2, 3)
    np.testing.assert_allclose(arrays["block"].sum(axis=-1), 1.0)
    assert history.epochs == [0, 1, 2] and len(history) == 3


def test_recording_an_epoch_again_replaces_it_and_later_ones():
    history = recorded(epochs=4)
    history.record(2, {"cell/alpha": np.zeros(4), "block": np.zeros((2, 3))})
    assert history.epochs == [0, 1, 2]
    np.testing.assert_allclose(history.arrays()["cell/alpha"][2], [[0.25] * 4])


@pytest.mark.parametrize("alphas, message", [
    ({"cell/alpha": np.zeros(4)}, r"missing \['block'\], unexpected \[\]"),
    ({"cell/alpha": np.zeros(4), "block": np.zeros(3)},
     r"alphas\['block'\]: softmax rows of shape \(1, 3\), the recorded epochs have "
     r"\(2, 3\)"),
    ({}, "expected at least one architecture parameter"),
])
def test_record_refuses_other_alphas_than_before(alphas, message):
    with pytest.raises(ValueError, match=message):
        recorded().record(3, alphas)


@pytest.mark.parametrize("epoch", [-1, 1.0, True, "2"])
def test_record_needs_an_epoch_number(epoch):
    with pytest.raises(ValueError, match="epoch: expected an int >= 0"):
        AlphaHistory().record(epoch, {"a": np.zeros(2)})


def test_json_round_trip_keeps_everything(tmp_path):
    history = recorded()
    history.save(tmp_path / "alphas.json")
    loaded = AlphaHistory.load(tmp_path / "alphas.json")
    assert loaded.epochs == history.epochs
    for (name, a), (other, b) in zip(history.arrays().items(), loaded.arrays().items()):
        assert name == other
        np.testing.assert_array_equal(a, b)
    loaded.record(3, {"cell/alpha": np.zeros(4), "block": np.zeros((2, 3))})
    assert loaded.epochs == [0, 1, 2, 3]


def test_an_empty_history_round_trips(tmp_path):
    AlphaHistory().save(tmp_path / "h.json")
    assert len(AlphaHistory.load(tmp_path / "h.json")) == 0


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(version=2), "version: expected 1, got 2"),
    (lambda d: d.update(extra=1), r"unknown \['extra'\], missing \[\]"),
    (lambda d: d.pop("epochs"), r"unknown \[\], missing \['epochs'\]"),
    (lambda d: d.update(epochs=[0, 2, 1]), "epochs: expected increasing ints"),
    (lambda d: d["alphas"].update(block=[[0.5, 0.5]]),
     r"alphas.block: expected shape \(3, rows, candidates\)"),
    (lambda d: d["alphas"].update(block=[["a"]] * 3), "alphas.block: expected nested"),
    (lambda d: d.update(alphas=[]), "alphas: expected an object"),
])
def test_load_names_the_bad_key(tmp_path, change, message):
    data = recorded().to_dict()
    change(data)
    (tmp_path / "h.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message):
        AlphaHistory.load(tmp_path / "h.json")


def test_load_of_broken_json_names_the_file(tmp_path):
    (tmp_path / "h.json").write_text('{"version": 1, ')
    with pytest.raises(ValueError, match="h.json: not valid JSON"):
        AlphaHistory.load(tmp_path / "h.json")


def darts_history(epochs=2, candidates=8):
    rng = np.random.RandomState(1)
    return {name: softmax_rows(rng.randn(epochs, candidates)) for name in DARTS_NAMES}


def test_darts_figure_has_one_panel_per_edge_and_one_shared_legend():
    names = [f"op{i}" for i in range(8)]
    fig = alpha_figure(darts_history(), candidate_names=names)
    assert len(fig.axes) == 28
    rows, cols = fig.axes[0].get_subplotspec().get_gridspec().get_geometry()
    assert rows * cols >= 28 and cols > rows
    assert [ax.get_title() for ax in fig.axes] == DARTS_NAMES
    assert all(len(ax.lines) == 8 and ax.get_legend() is None for ax in fig.axes)
    assert len(fig.legends) == 1
    assert [t.get_text() for t in fig.legends[0].get_texts()] == names
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_xdata(), [1, 2])


def test_multi_row_alphas_get_a_panel_per_row_and_own_legends():
    history = {"blocks": np.full((3, 20, 4), 0.25), "skip": np.full((3, 2), 0.5)}
    fig = alpha_figure(history, candidate_names={"blocks": list("abcd")},
                       epochs=[5, 6, 7])
    assert len(fig.axes) == 21
    assert fig.axes[19].get_title() == "blocks [19]"
    assert fig.axes[20].get_title() == "skip"
    assert not fig.legends
    assert [t.get_text() for t in fig.axes[20].get_legend().get_texts()] == ["0", "1"]
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_xdata(), [5, 6, 7])


@pytest.mark.parametrize("history, kw, message", [
    ({}, {}, "expected a non-empty mapping"),
    ({"a": np.zeros((2, 3)), "b": np.zeros((3, 3))}, {},
     r"history\['b'\]: expected shape \(2, rows, candidates\)"),
    ({"a": np.zeros(3)}, {}, r"history\['a'\]: expected shape"),
    ({"a": np.full((2, 3), np.nan)}, {}, "must be finite"),
    ({"a": np.zeros((2, 3))}, {"candidate_names": ["x", "y"]},
     "2 names for the 3 candidates of 'a'"),
    ({"a": np.zeros((2, 3))}, {"epochs": [1, 2, 3]}, "epochs: expected 2 values"),
])
def test_bad_histories_are_named(history, kw, message):
    with pytest.raises(ValueError, match=message):
        alpha_figure(history, **kw)


def test_plot_writes_a_png_pillow_reads(tmp_path):
    path = plot_alpha_history({"a": np.full((1, 3), 1 / 3)}, tmp_path / "alphas.png")
    assert path == str(tmp_path / "alphas.png")
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size[0] > 100 and image.size[1] > 100
    assert [p.name for p in tmp_path.iterdir()] == ["alphas.png"]


def test_history_plot_counts_epochs_from_one(tmp_path, monkeypatch):
    # Epochs 2, 3 and 4 (0-based, as a resumed search records them) are plotted at
    # x = 3, 4, 5: neither the 0-based epochs nor the default 1, 2, 3.
    history = AlphaHistory()
    rng = np.random.RandomState(0)
    for epoch in (2, 3, 4):
        history.record(epoch, {"cell/alpha": rng.randn(4), "block": rng.randn(2, 3)})
    figures = []

    def keep(*args, **kwargs):
        figures.append(alpha_figure(*args, **kwargs))
        return figures[-1]

    monkeypatch.setattr(alphas_module, "alpha_figure", keep)
    path = history.plot(tmp_path / "h.png", candidate_names={"block": ["x", "y", "z"]})
    with Image.open(path) as image:
        image.verify()
    (fig,) = figures
    assert [ax.get_title() for ax in fig.axes] == ["cell/alpha", "block [0]", "block [1]"]
    for ax in fig.axes:
        for line in ax.lines:
            np.testing.assert_array_equal(line.get_xdata(), [3, 4, 5])
    np.testing.assert_allclose(fig.axes[2].lines[1].get_ydata(),
                               history.arrays()["block"][:, 1, 1])
