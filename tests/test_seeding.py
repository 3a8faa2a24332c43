import itertools

import numpy as np
import pytest

from monotheory.errors import ConfigError
from monotheory.seeding import as_generator, as_seed, as_torch_generator, generator, stream_seed


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
    assert as_generator(3).random() == np.random.default_rng(3).random()  # an int: the stream with no names


def test_one_converter_for_every_kind_of_random_state():
    """seeding is the one RNG converter: torch Generators become NumPy ones (one draw), ints and NumPy Generators
    become torch ones; the same input gives the same numbers; anything else is one ConfigError sentence."""
    torch = pytest.importorskip("torch")

    t1, t2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    assert as_generator(t1).random() == as_generator(t2).random()
    assert not torch.equal(torch.rand(3, generator=t1), torch.rand(3, generator=torch.Generator().manual_seed(9)))
    g = torch.Generator().manual_seed(1)
    assert as_torch_generator(g) is g
    assert torch.equal(torch.rand(3, generator=as_torch_generator(4)), torch.rand(3, generator=torch.manual_seed(4)))
    a = torch.rand(3, generator=as_torch_generator(np.random.default_rng(2)))
    assert torch.equal(a, torch.rand(3, generator=as_torch_generator(np.random.default_rng(2))))
    assert isinstance(as_torch_generator(None), torch.Generator)
    for bad in ("abc", 1.5, True, -1):
        with pytest.raises(ConfigError, match="seed"):
            as_generator(bad)
        with pytest.raises(ConfigError, match="seed"):
            as_torch_generator(bad)


def test_the_old_converters_of_noise_are_deprecated_aliases():
    torch = pytest.importorskip("torch")
    from monotheory import noise

    with pytest.warns(DeprecationWarning, match="seeding.as_generator"):
        assert noise.as_numpy_rng(5).random() == as_generator(5).random()
    with pytest.warns(DeprecationWarning, match="seeding.as_torch_generator"):
        g = noise.as_torch_generator(5)
    assert torch.equal(torch.rand(2, generator=g), torch.rand(2, generator=as_torch_generator(5)))


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_bad_seed_is_a_config_error(bad):
    with pytest.raises(ConfigError):
        stream_seed(bad, "x")


def test_bad_name_is_a_config_error():
    with pytest.raises(ConfigError):
        stream_seed(0, -3)
    with pytest.raises(ConfigError):
        stream_seed(0, 0.5)
