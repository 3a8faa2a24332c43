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


@dataclasses.dataclass
class _Meta:
    out_dir: str = dataclasses.field(metadata={"flag": "out", "default": "results", "metavar": "DIR"})
    level: float | None = dataclasses.field(default=None, metadata={"required": True, "help": "a level"})
    plugins: tuple[str, ...] = dataclasses.field(default=(), metadata={"flag": "plugin", "repeat": True})
    old_levels: tuple[float, ...] | None = dataclasses.field(default=None, metadata={"deprecated": "use --level"})
    internal: bool | None = dataclasses.field(default=None, metadata={"cli": False})


def test_field_metadata_shapes_the_options(capsys):
    """flag, default, required, repeat, deprecated and cli of a field's metadata: each changes the option as
    documented in monotheory.config (and nothing else)."""
    from monotheory.config import given_options

    p = argparse.ArgumentParser(prog="x")
    add_dataclass_arguments(p, _Meta)
    opts = {o for a in p._actions for o in a.option_strings}
    assert {"--out", "--level", "--plugin", "--old-levels"} <= opts and "--internal" not in opts
    assert "--out-dir" not in opts and "required arguments" in p.format_help() and "--old-levels" not in p.format_help()
    with pytest.raises(SystemExit):
        p.parse_args([])  # --level is required
    ns = p.parse_args(["--level", "0.5", "--plugin", "a", "--plugin", "b"])
    cfg = from_namespace(_Meta, ns)
    assert cfg == _Meta(out_dir="results", level=0.5, plugins=("a", "b"))
    assert given_options(_Meta, ns) == ["--out", "--level", "--plugin"]
    capsys.readouterr()
    ns = p.parse_args(["--level", "1", "--old-levels", "0.1,0.2"])
    assert ns.old_levels == (0.1, 0.2) and "x: warning: --old-levels is deprecated" in capsys.readouterr().err


def test_cli_options_come_from_configs():
    """The commands of this package build their options from configs: no hand-written add_argument but the toy
    mode (a positional word) and the dispatcher's --version; probe and verify are left to their own round."""
    import re
    from pathlib import Path

    cli = Path(__file__).resolve().parents[1] / "monotheory" / "cli"
    found = {f.name: len(re.findall(r"\.add_argument\(", f.read_text())) for f in cli.glob("*.py")}
    assert {k: v for k, v in found.items() if v and k not in ("probe.py", "verify.py")} == {
        "toy.py": 1, "__init__.py": 1}, found
