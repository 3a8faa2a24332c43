"""The files of issue 23's bad-input cases (``tests/bad_input_cases.py``): an encoder module with broken
factories, plugins that exit or print, constant and too-small feature files, and results folders, honest and
damaged (a planted check script among them)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

ENCODERS = '''
import torch
from torch import nn


def needs_args(width):
    return nn.Flatten()


def raises():
    raise RuntimeError("this factory fails on purpose")


def small():
    torch.manual_seed(0)
    return nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(12, 6))


def fixed_crop():  # built for 4-px images
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 6))


def nan_out():
    m = small()
    with torch.no_grad():
        m[2].bias[0] = float("nan")
    return m


def constant():
    return lambda x: torch.zeros(x.shape[0], 6)


def returns_list():
    return lambda x: [x]
'''

PLANTED = '''
from pathlib import Path
HERE = Path(__file__).resolve().parent
if (HERE / "ARMED").exists():
    (HERE / "MARKER").write_text("code from the results folder ran")
from monotheory.claims.verdict import REPRODUCED, Verdict
def run(ctx):
    return Verdict("C6", "planted", REPRODUCED, value=1.0)
'''

PLUGINS = {
    "plugin_exit.py": "import sys\nsys.exit(0)\n",
    "plugin_print.py": "print('hello from a plugin')\n",
    "plugin_chatty.py": ("from monotheory.theory import registry\n"
                         "def chatty(m):\n    print('evaluating')\n    return m['delta_mu']\n"
                         "registry.register_criterion('chatty_demo', chatty)\n"),
    "plugin_syntax.py": "def broken(:\n",
    "plugin_text.txt": "x = 1\n",
}


def _write_npz(path: Path, x, y) -> str:
    np.savez(path, X=x, y=y)
    return str(path)


def _check_folder(base: Path, checks: Path, name: str) -> Path:
    from monotheory.cli import main

    out = base / name
    assert main(["check", "--checks-dir", str(checks), "--out", str(out)]) == 0
    return out


def _damaged(src: Path, dst: Path, file: str, content, manifest: bool = True) -> str:
    from monotheory.files import write_manifest

    shutil.copytree(src, dst)
    (dst / file).write_text(content if isinstance(content, str) else json.dumps(content))
    if manifest:  # the damage is recorded as if the run had written it (else the manifest alone names it)
        write_manifest(dst)
    return str(dst)


def _imagenet_folder(base: Path) -> Path:
    from monotheory.files import atomic_write_json, write_manifest
    from monotheory.vision.summary import write_summary

    out = base / "inet"
    out.mkdir()
    atomic_write_json(out / "config.json", {"config": {"dataset": "folder", "seed": 0}})
    atomic_write_json(out / "sae.json", {"normalized_mse": 0.1, "dead_latents": 0, "n_latents": 8})
    write_summary(out)
    write_manifest(out)
    return out


def make_issue23_data(base: Path, d: dict) -> dict:
    """Files for the cases below, under ``base`` (``d``: the corpus's data of tests/test_bad_input.py)."""
    import torch

    from monotheory.files import write_manifest

    made: dict = {}
    mods = base / "mods"
    mods.mkdir(parents=True)
    (mods / "monotheory_bad_encoders.py").write_text(ENCODERS)
    made["mods"] = mods
    for name, text in PLUGINS.items():
        (mods / name).write_text(text)
        made[name] = str(mods / name)
    import importlib
    import sys

    sys.path.insert(0, str(mods))
    small = importlib.import_module("monotheory_bad_encoders").small()
    sys.path.remove(str(mods))
    state = small.state_dict()
    state["2.weight"][0, 0] = float("nan")
    torch.save(state, base / "nan_w.pt")
    made["nan_w"] = str(base / "nan_w.pt")
    rng = np.random.default_rng(1)
    made["const_tr"] = _write_npz(base / "const_tr.npz", np.ones((30, 4)), np.arange(30) % 3)
    made["const_te"] = _write_npz(base / "const_te.npz", np.ones((12, 4)), np.arange(12) % 3)
    made["two_rows"] = _write_npz(base / "two_rows.npz", rng.normal(size=(2, 5)), np.array([0, 1]))
    (base / "a_folder.npz").mkdir()
    made["dir"] = str(base / "a_folder.npz")

    # a check folder, and damaged copies of it
    checks = base / "checks6"
    checks.mkdir()
    shutil.copy(d["checks"] / "c01_dummy.py", checks / "c01_dummy.py")
    chk = _check_folder(base, checks, "chk")
    made["chk"] = chk
    made["v_manifest_list"] = _damaged(chk, base / "v1", "manifest.json", [], manifest=False)
    made["v_verdicts_null"] = _damaged(chk, base / "v2", "verdicts.json", "null")
    made["v_verdicts_list"] = _damaged(chk, base / "v3", "verdicts.json", [])
    made["v_bad_json"] = _damaged(chk, base / "v4", "verdicts.json", "{not json")
    good = json.loads((chk / "verdicts.json").read_text())
    made["v_checks_str"] = _damaged(chk, base / "v5", "verdicts.json", {**good, "meta": {**good["meta"],
                                                                                            "checks": "checks/x"}})
    made["v_checks_escape"] = _damaged(chk, base / "v6", "verdicts.json", {
        **good, "meta": {**good["meta"], "checks": [str(d["tr"])]}})
    made["v_part_bad"] = _damaged(chk, base / "v7", "checks/c01_dummy.json", {"script": "c01", "verdicts": "x"})
    made["v_seed_bad"] = _damaged(chk, base / "v8", "verdicts.json", {**good, "meta": {**good["meta"],
                                                                                          "seed": "abc"}})
    man = json.loads((chk / "manifest.json").read_text())
    made["v_manifest_nosha"] = _damaged(chk, base / "v9", "manifest.json", {
        **man, "files": {k: {"bytes": 1} for k in man["files"]}}, manifest=False)
    v10 = Path(_damaged(chk, base / "v10", "manifest.json", {**man, "exclude": ["extra"]}, manifest=False))
    (v10 / "extra").mkdir()
    (v10 / "extra" / "added.txt").write_text("added after the run")
    made["v_exclude"] = str(v10)

    # a folder whose verdicts.json names a checks folder with a planted C6 (key consistent, as its author made it)
    planted = base / "planted"
    planted.mkdir()
    (planted / "c06_planted.py").write_text(PLANTED)
    pf = _check_folder(base, planted, "v_planted")
    (planted / "ARMED").write_text("")
    write_manifest(pf)
    made["v_planted"], made["marker"] = str(pf), planted / "MARKER"

    inet = _imagenet_folder(base)
    made["inet"] = str(inet)
    made["inet_sae_list"] = _damaged(inet, base / "i1", "sae.json", [])
    made["inet_config_list"] = _damaged(inet, base / "i2", "config.json", [])
    made["inet_config_bad"] = _damaged(inet, base / "i3", "config.json", {"config": {"bogus_key": 1}})
    return made


