import argparse
import dataclasses

import pytest

from monotheory.config import (
    add_dataclass_arguments,
    check_choice,
    check_int,
    check_nonnegative,
    check_probability,
    check_sparsity,
    from_namespace,
    to_dict,
)
from monotheory.errors import ConfigError


@pytest.mark.parametrize("fn,value,msg", [
    (check_sparsity, 1.0, "sparsity = 1.0 is outside [0, 1)"),
    (check_sparsity, -0.1, "sparsity = -0.1 is outside [0, 1)"),
    (check_probability, 1.5, "noise_rate = 1.5 is outside [0, 1]"),
    (check_nonnegative, -1, "sigma = -1 is negative"),
])
def test_validators_name_the_value(fn, value, msg):
    name = msg.split(" ")[0]
    with pytest.raises(ConfigError, match=msg.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        fn(name, value)


def test_validators_accept_good_values():
    assert check_sparsity("sparsity", 0.0) == 0.0
    assert check_probability("noise_rate", 1) == 1.0
    assert check_int("seeds", 3) == 3
    assert check_choice("criterion", "fisher", ["fisher", "unnormalized"]) == "fisher"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "0.3", None])
def test_non_numbers_rejected(bad):
    with pytest.raises(ConfigError, match="noise_rate"):
        check_probability("noise_rate", bad)


def test_int_and_choice_errors():
    with pytest.raises(ConfigError, match="samples = 0 must be ≥ 1"):
        check_int("samples", 0)
    with pytest.raises(ConfigError, match="not an integer"):
        check_int("samples", 2.5)
    with pytest.raises(ConfigError, match="criterion = 'bogus' is unknown; choose one of fisher, x"):
        check_choice("criterion", "bogus", ["fisher", "x"])


@dataclasses.dataclass
class _Cfg:
    sparsity: float = dataclasses.field(default=0.2, metadata={"help": "P(x_i = 0)"})
    steps: int = 10
    rates: tuple[float, ...] = (0.0, 0.9)
    verbose: bool = False
    name: str = "poly"


def test_dataclass_to_argparse_roundtrip():
    p = argparse.ArgumentParser()
    add_dataclass_arguments(p, _Cfg)
    ns = p.parse_args(["--sparsity", "0.3", "--rates", "0,0.5", "--verbose"])
    cfg = from_namespace(_Cfg, ns)
    assert cfg == _Cfg(sparsity=0.3, steps=10, rates=(0.0, 0.5), verbose=True, name="poly")
    assert to_dict(cfg)["_type"] == "_Cfg"
    assert "P(x_i = 0) (default: 0.2)" in p.format_help()
