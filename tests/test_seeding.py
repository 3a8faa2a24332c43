import itertools

import numpy as np
import pytest

from monotheory.errors import ConfigError
from monotheory.seeding import as_generator, as_seed, generator, stream_seed


def test_named_streams_never_share_a_state():
    paths = [(), ("train",), ("probe",), ("train", 0), ("train", 1), (0,), (1,), ("0",), ("1",),
             ("probe", "label-noise", 3), ("probe", "label-noise", 300)]
    seeds = [stream_seed(s, *p) for s, p in itertools.product(range(0, 400, 100), paths)]
    assert len(set(seeds)) == len(seeds)


def test_old_arithmetic_collision_is_gone():
    # seed + round(1000 * rate) mixed (seed 0, rate 0.3) with (seed 300, rate 0)
    assert stream_seed(0, "noise", 300) != stream_seed(300, "noise", 0)


def test_streams_are_reproducible_and_independent_of_order():
    a = generator(5, "x").random(4)
    generator(5, "y").random(10)
    assert np.array_equal(a, generator(5, "x").random(4))


def test_as_generator_accepts_none_int_and_generator():
    g = np.random.default_rng(0)
    assert as_generator(g) is g
    assert as_generator(3).random() == as_generator(3).random()
    assert isinstance(as_generator(None), np.random.Generator)
    assert 0 <= as_seed(g) < 2**63


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_bad_seed_is_a_config_error(bad):
    with pytest.raises(ConfigError):
        stream_seed(bad, "x")


def test_bad_name_is_a_config_error():
    with pytest.raises(ConfigError):
        stream_seed(0, -3)
    with pytest.raises(ConfigError):
        stream_seed(0, 0.5)
