"""One probe config, not two copies (issue 21): the noise grid of ``monotheory probe`` (ProfileConfig) and of the
probe stage of ``run-imagenet`` (ProbeConfig) is declared and checked once, in :class:`monotheory.noise.NoiseGrid`;
ProfileConfig's ``seeds``/``n_boot`` are ``n_seeds``/``n_resamples``, the old names working for one release."""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pytest

from monotheory.cli import build_parser, main
from monotheory.config import from_namespace
from monotheory.errors import ConfigError
from monotheory.noise import DEFAULT_NOISE_RATES, NoiseGrid
from monotheory.probe.config import ProfileConfig
from monotheory.vision.config import ProbeConfig

GRID = [f.name for f in dataclasses.fields(NoiseGrid)]


def _fields(cls) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


def test_the_noise_grid_is_declared_once_and_both_configs_inherit_it():
    assert GRID == ["noise_rates", "noise_model", "noise_sampling", "sigmas", "input_noise"]
    for cls in (ProfileConfig, ProbeConfig):
        assert issubclass(cls, NoiseGrid)
        own = cls.__dict__.get("__annotations__", {})
        # ProfileConfig redeclares noise_rates only for its default (None: the grid fitted to the classes)
        assert [n for n in GRID if n in own] == (["noise_rates"] if cls is ProfileConfig else [])
        fields = _fields(cls)
        for name in GRID:
            base = _fields(NoiseGrid)[name]
            assert fields[name].metadata["help"] == base.metadata["help"], (cls.__name__, name)
            assert fields[name].metadata.get("choices") == base.metadata.get("choices"), (cls.__name__, name)


def test_each_config_keeps_its_default_grid():
    assert ProbeConfig().noise_rates == DEFAULT_NOISE_RATES == (0.0, 0.3, 0.6, 0.9)
    assert ProfileConfig().noise_rates is None  # stands for DEFAULT_NOISE_RATES less the rates C cannot carry
    for name in GRID[1:]:
        assert getattr(ProfileConfig(), name) == getattr(ProbeConfig(), name) == getattr(NoiseGrid(), name)


@pytest.mark.parametrize("bad, named", [
    (dict(sigmas=(-1,)), "sigmas entry = -1"), (dict(sigmas=(0.2, 0.2)), "lists 0.2 twice"),
    (dict(sigmas=(2e6,)), "2000000"), (dict(sigmas=()), "sigmas is empty"),
    (dict(noise_rates=(0.0, 1.5)), "noise_rates entry = 1.5"), (dict(noise_rates=(0.3, 0.3)), "lists 0.3 twice"),
    (dict(noise_rates=()), "noise_rates is empty"), (dict(noise_model="one_sided"), "one_sided"),
    (dict(noise_sampling="poisson"), "poisson"), (dict(input_noise="salt"), "salt"),
])
def test_a_bad_grid_value_is_refused_with_the_same_sentence_by_both_configs(bad, named):
    said = []
    for cls in (NoiseGrid, ProfileConfig, ProbeConfig):
        with pytest.raises(ConfigError) as e:
            cls(**bad)
        said.append(str(e.value))
    assert said[0] == said[1] == said[2] and named in said[0], said


def test_the_cli_options_of_the_grid_say_the_same_in_probe_and_run_imagenet():
    def helps(command: str, prefix: str) -> dict[str, str]:
        p = build_parser(command)._subparsers._group_actions[0].choices[command]
        return {a.dest[len(prefix):]: a.help.rsplit(" (default: ", 1)[0] for a in p._actions
                if a.dest.removeprefix(prefix) in GRID and a.dest.startswith(prefix)}

    probe, run = helps("probe", ""), helps("run-imagenet", "probe_")
    assert set(probe) == set(run) == set(GRID)
    assert probe == run


def test_the_old_keywords_seeds_and_n_boot_still_work_and_warn():
    with pytest.warns(DeprecationWarning, match=r"ProfileConfig\(seeds=\.\.\.\) is deprecated: use n_seeds"):
        old = ProfileConfig(seeds=3)
    assert old == ProfileConfig(n_seeds=3) and old.n_seeds == 3
    with pytest.warns(DeprecationWarning, match=r"use n_resamples"):
        old = ProfileConfig(n_boot=300)
    assert old.n_resamples == 300
    with pytest.warns(DeprecationWarning, match=r"ProfileConfig\.seeds is deprecated: read ProfileConfig\.n_seeds"):
        assert ProfileConfig(n_seeds=4).seeds == 4
    keys = dataclasses.asdict(ProfileConfig())
    assert "n_seeds" in keys and "n_resamples" in keys and "seeds" not in keys and "n_boot" not in keys
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new names never warn
        ProfileConfig(n_seeds=2, n_resamples=200)
    with pytest.raises(ConfigError, match="seeds = 2 and n_seeds = 3 are both given"):
        ProfileConfig(seeds=2, n_seeds=3)


def test_the_old_flags_are_hidden_aliases_that_name_the_new_flag(capsys):
    p = build_parser("probe")
    sub = p._subparsers._group_actions[0].choices["probe"]
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the flags map onto the new field names: no DeprecationWarning
        old = from_namespace(ProfileConfig, p.parse_args(["probe", "--seeds", "3", "--n-boot", "300"]))
    err = capsys.readouterr().err.splitlines()
    assert old == from_namespace(ProfileConfig, p.parse_args(["probe", "--n-seeds", "3", "--n-resamples", "300"]))
    assert old.n_seeds == 3 and old.n_resamples == 300
    assert len(err) == 2 and all("warning:" in line for line in err), err
    assert "--seeds is deprecated" in err[0] and "--n-seeds" in err[0]
    assert "--n-boot is deprecated" in err[1] and "--n-resamples" in err[1]
    text = sub.format_help()
    assert "--n-seeds" in text and "--n-resamples" in text and "--seeds" not in text and "--n-boot" not in text


def test_a_profile_run_with_the_old_flags_saves_the_new_names(tmp_path, capsys):
    X = np.random.default_rng(0).normal(size=(30, 5))
    for name in ("tr", "te"):
        np.savez(tmp_path / f"{name}.npz", X=X, y=np.arange(30) % 3)
    out = tmp_path / "out"
    rc = main(["probe", "--train", str(tmp_path / "tr.npz"), "--test", str(tmp_path / "te.npz"), "--seeds", "2",
               "--n-boot", "100", "--noise-rates", "0", "--sigmas", "0", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 0 and err.count("is deprecated and will be removed") == 2, err
    saved = json.loads((out / "profile.json").read_text())["config"]
    assert saved["n_seeds"] == 2 and saved["n_resamples"] == 100 and "seeds" not in saved and "n_boot" not in saved
    assert json.loads((out / "config.json").read_text())["profile"]["n_seeds"] == 2
    assert "t-interval over 2 seeds" in (out / "profile.json").read_text()  # the count reached the profile
