"""Spike-and-uniform sampling, labels, tie rules, label and input noise."""

import numpy as np
import pytest
from scipy.stats import kstest

from monotheory.errors import ConfigError
from monotheory.seeding import as_generator
from monotheory.testing import z_value
from monotheory.theory import SpikeUniform, mono_feature, noisy_labels, poly_feature
from monotheory.theory.datamodel import add_input_noise

N = 400_000


def test_spike_probability_and_uniform_part():
    s = 0.3
    x = SpikeUniform(s, n_features=3).sample_features(N, 0)
    zero = (x == 0).mean(axis=0)
    se = np.sqrt(s * (1 - s) / N)
    assert np.all(np.abs(zero - s) < z_value(3) * se)
    assert kstest(x[x > 0][:50_000], "uniform").pvalue > 1e-3 / 2  # budget split over the two tests here


def test_labels_and_tie_rules():
    x = np.array([[0.5, 0.2], [0.1, 0.7], [0.0, 0.0], [0.0, 0.3], [0.4, 0.0]])
    assert SpikeUniform(0.5, tie_rule="class0").labels(x).tolist() == [1, 0, 0, 0, 1]
    assert SpikeUniform(0.5, tie_rule="class1").labels(x).tolist() == [1, 0, 1, 0, 1]
    assert SpikeUniform(0.5, tie_rule="drop").labels(x).tolist() == [1, 0, -1, 0, 1]
    _, y = SpikeUniform(0.5, tie_rule="drop").sample(10_000, 1)
    assert set(np.unique(y)) == {0, 1}
    xr = np.zeros((20_000, 2))
    yr = SpikeUniform(0.5, tie_rule="random").labels(xr, 2)
    assert abs(yr.mean() - 0.5) < z_value(1) * 0.5 / np.sqrt(len(yr))


def test_argmax_over_more_features():
    x = np.array([[0.5, 0.2, 0.9], [0.6, 0.2, 0.1], [0.0, 0.0, 0.0]])
    assert SpikeUniform(0.2, n_features=3, tie_rule="class1").labels(x).tolist() == [0, 1, 1]


def test_dropped_share_is_s_squared():
    s, n = 0.4, 200_000
    x, _ = SpikeUniform(s).sample(n, 3)
    dropped = 1 - len(x) / n
    assert abs(dropped - s * s) < z_value(1) * np.sqrt(s * s * (1 - s * s) / n)


def test_seeds_and_generators_are_reproducible():
    a = SpikeUniform(0.2).sample(1000, 5)
    b = SpikeUniform(0.2).sample(1000, np.random.default_rng(5))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], SpikeUniform(0.2).sample(1000, 6)[0])
    with pytest.raises(ConfigError, match="seed"):
        as_generator("abc")


def test_features_and_noise():
    x = np.array([[0.5, 0.2], [0.0, 0.7]])
    assert mono_feature(x).tolist() == [0.5, 0.0]
    assert poly_feature(x, (2, 1)).tolist() == pytest.approx([0.8, -0.7])
    y = np.ones(100_000, dtype=np.int64)
    flipped = 1 - noisy_labels(y, "flip", 0.3, 0).mean()
    assert abs(flipped - 0.3) < z_value(2) * np.sqrt(0.21 / len(y))
    assert noisy_labels(np.zeros(1000, dtype=np.int64), "one_sided", 0.9, 0).sum() == 0  # 0 never flips
    assert np.array_equal(noisy_labels(y, "flip", 1.0, 0), 1 - y)  # η = 1 inverts every label
    xn = add_input_noise(np.zeros((100_000, 2)), 0.5, 0)
    assert abs(xn.std() - 0.5) < 0.01


@pytest.mark.parametrize("kw, match", [(dict(sparsity=1.0), "sparsity"), (dict(sparsity=-0.1), "sparsity"),
                                       (dict(sparsity=0.2, n_features=1), "n_features"),
                                       (dict(sparsity=0.2, tie_rule="coin"), "tie_rule")])
def test_bad_model_config(kw, match):
    with pytest.raises(ConfigError, match=match):
        SpikeUniform(**kw)


def test_bad_noise_config():
    with pytest.raises(ConfigError, match="noise_rate"):
        noisy_labels(np.ones(3, dtype=np.int64), "flip", 1.5)
    with pytest.raises(ConfigError, match="noise_model"):
        noisy_labels(np.ones(3, dtype=np.int64), "sideways", 0.1)
    with pytest.raises(ConfigError, match="sigma"):
        add_input_noise(np.ones((2, 2)), -1.0)
