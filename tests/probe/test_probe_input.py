"""Issue 23/24 on `monotheory probe`: rates given are never dropped, degenerate inputs are flagged, the caption counts
what the table shows, the σ axis says its unit, the encoder is probed with one small batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monotheory.errors import ConfigError
from monotheory.probe import ProfileConfig, profile_features
from monotheory.probe.config import DEFAULT_NOISE_RATES, allowed_noise_rates
from monotheory.probe.images import probe_encoder

RNG = np.random.default_rng(0)
X = RNG.normal(size=(60, 4))
Y = np.arange(60) % 3


def test_a_rate_given_is_refused_not_dropped_even_when_it_equals_the_default_grid(capsys):
    given = ProfileConfig(noise_rates=DEFAULT_NOISE_RATES)
    with pytest.raises(ConfigError, match="noise_rate = 0.9 is outside"):
        allowed_noise_rates(given, 3)
    default = allowed_noise_rates(ProfileConfig(), 3)
    assert default.noise_rates == (0.0, 0.3, 0.6)
    assert "default noise rates 0.9 dropped" in capsys.readouterr().err


def test_caption_counts_the_cells_it_shows_and_the_sigma_axis_says_its_unit():
    cfg = ProfileConfig(noise_rates=(0.0, 0.3, 0.6), sigmas=(0.0, 0.5), mono=("relu",), n_resamples=100)
    prof = profile_features(X, Y, X, Y, config=cfg)
    table = prof.table()
    rows = [ln for ln in table.splitlines() if ln.startswith("| ") and not ln.startswith("| condition")
            and not ln.startswith("| measure") and "|" in ln[2:] and ln.split("|")[1].strip() in
            ("clean", "label noise 0.3", "label noise 0.6", "input noise σ=0.5")]
    assert len(rows) == 4
    assert "Holm-adjusted over the 6 cells" in table and "The table shows 4 of the 6 cells" in table
    assert prof.input_noise_label() == "test input noise σ (× the features' average sd)"
    fig = prof.plot()
    assert fig.axes[1].get_xlabel() == "test input noise σ (× the features' average sd)"
    assert prof.data["warnings"] == []


def test_constant_features_are_flagged_in_the_json_and_the_table():
    cfg = ProfileConfig(noise_rates=(0.0,), sigmas=(0.0, 0.5), n_resamples=100)
    prof = profile_features(np.ones((60, 4)), Y, np.ones((30, 4)), Y[:30], config=cfg)
    assert len(prof.data["warnings"]) == 1 and "constant" in prof.data["warnings"][0]
    assert prof.table().startswith("warning: feature set 'features' is constant")
    assert prof.data["conditions"]["noise_scale"] == 0.0


def test_fewer_test_items_than_classes_is_refused_before_any_fit():
    with pytest.raises(ConfigError, match="test: 2 test items for 3 classes"):
        profile_features(X, Y, X[:2], Y[:2], config=ProfileConfig(n_resamples=100))


@pytest.mark.parametrize("model, word", [
    (torch.nn.Linear(3, 4), "fails on a batch of 2 images"),
    (lambda x: x.flatten(1)[:1], "must return (2, d)"),
    (lambda x: torch.full((x.shape[0], 3), float("nan")), "NaN"),
    (lambda x: torch.ones(x.shape[0], 3, dtype=torch.long), "non-float"),
])
def test_the_encoder_is_probed_with_one_small_batch(model, word):
    ds = [(torch.zeros(3, 8, 8), 0), (torch.ones(3, 8, 8), 1)]
    with pytest.raises(ConfigError, match="encoder") as e:
        probe_encoder(model, ds, torch.device("cpu"), "my.module:make", 8)
    assert word in str(e.value) and "\n" not in str(e.value)
    assert probe_encoder(lambda x: x.flatten(1), ds, torch.device("cpu"), "ok", 8) == 192
