"""Issue 23's cases of the bad-input corpus (untrusted input, untrusted folders): the newer commands and APIs.

Used by ``tests/test_bad_input.py`` (each case must come out *clear*) and by ``tests/bad_input_census.py`` (which
counts the outcomes per command, so the numbers before and after a change can be reproduced). A :class:`Case`
says what a clear outcome is:

* ``refuse``: exit status 2, exactly one line on stderr naming ``named``, no traceback, nothing written in the
  working folder (API: one :class:`ConfigError` line naming ``named``);
* ``damage``: a damaged results folder: exit 1 (mismatch) or 2 (unreadable), one line on stderr naming it;
* ``warn``: exit 0, a ``warning:`` line on stderr naming ``named`` and, with ``--json``, a ``warnings`` list
  in the JSON that names it too (the run is degenerate, and says so);
* ``json``: exit 0 and stdout is one valid JSON document (a plugin cannot corrupt it);
* ``accept``: exit 0 (a valid setting that used to be refused for the wrong reason).

``absent``: a file that must not exist afterwards (the marker a planted script would write). The files the cases
need are made by ``tests/bad_input_files.py``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from monotheory.errors import ConfigError


@dataclasses.dataclass
class Case:
    group: str
    named: str
    argv: list[str] | None = None
    call: Callable | None = None
    expect: str = "refuse"
    absent: Path | None = None

    @property
    def label(self) -> str:
        return " ".join(self.argv)[:90] if self.argv else getattr(self.call, "__name__", "api")


# ------------------------------------------------------------------------------------------------- cases


def cli_cases(d: dict, e: dict, out: Path) -> list[Case]:
    """CLI cases; ``d``: tests/test_bad_input.py's data, ``e``: :func:`make_issue23_data`, ``out``: --out."""
    o = str(out)
    tr, te, two = str(d["tr"]), str(d["te"]), str(d["two"])
    probe = ["probe", "--train", tr, "--test", te, "--out", o, "--n-resamples", "100", "--quiet"]
    enc = ["probe", "--data-root", two, "--crop-size", "8", "--out", o, "--n-resamples", "100", "--quiet",
           "--noise-rates", "0,0.3", "--sigmas", "0,0.5"]
    E = "monotheory_bad_encoders:"
    toy = ["toy", "--n-seeds", "2", "--probe-train", "64", "--probe-test", "64", "--steps", "5", "--out", o,
           "--quiet"]
    sweep = [*toy[:1], "sweep", *toy[1:], "--sparsities", "0.5", "--sigmas", "0,0.2"]
    search = [*toy[:1], "search", *toy[1:], "--search-sparsities", "0.5", "--search-importances", "uniform",
              "--search-sigma-sds", "0.5", "--search-noise-rates", "0.5", "--search-probe-sizes", "64",
              "--search-regimes", "poly,oracle", "--search-select", "oracle"]
    controls = [*toy[:1], "controls", *toy[1:], "--controls-ks", "1", "--controls-sparsities", "0.2",
                "--controls-tasks", "argmax", "--controls-labels", "all", "--controls-regimes", "poly,oracle"]
    lora = ["lora-digits", "--out", o, "--pretrain-epochs", "1", "--epochs", "1", "--seeds", "0,1",
            "--methods", "full"]
    theory = ["theory", "--sparsity", "0.2", "--samples", "0"]
    C = Case
    return [
        # probe: files
        C("probe", "is a folder", [*probe, "--train", e["dir"]]),
        C("probe", "two_rows.npz", [*probe, "--test", e["two_rows"]]),
        C("probe", "constant", [*probe, "--train", e["const_tr"], "--test", e["const_te"], "--json"], expect="warn"),
        C("probe", "twice", [*probe, "--noise-rates", "0,0.3,0.3"]),
        C("probe", "twice", [*probe, "--sigmas", "0,0.2,0.2"]),
        C("probe", "twice", [*probe, "--mono", "relu,relu"]),
        C("probe", "10000000", [*probe, "--sigmas", "0,1e7"]),
        C("probe", "0.9", [*probe, "--noise-rates", "0,0.3,0.6,0.9"]),
        C("probe", "is a folder", [*probe, "--shift", f"s={e['dir']}"]),
        # probe: encoders
        C("probe", "nan", [*enc, "--encoder", E + "small", "--mean", "nan,0,0"]),
        C("probe", "-1", [*enc, "--encoder", E + "small", "--std", "-1,-1,-1"]),
        C("probe", "needs_args", [*enc, "--encoder", E + "needs_args"]),
        C("probe", "raises", [*enc, "--encoder", E + "raises"]),
        C("probe", "fixed_crop", [*enc, "--encoder", E + "fixed_crop"]),
        C("probe", "NaN", [*enc, "--encoder", E + "nan_out"]),
        C("probe", "NaN", [*enc, "--encoder", E + "small", "--weights", e["nan_w"]]),
        C("probe", "is a folder", [*enc, "--encoder", E + "small", "--weights", e["dir"]]),
        C("probe", "returns_list", [*enc, "--encoder", E + "returns_list"]),
        C("probe", "constant", [*enc, "--encoder", E + "constant", "--json"], expect="warn"),
        C("probe", "random", [*enc, "--encoder", "torchvision:resnet18", "--json"], expect="warn"),
        C("probe", "--cache", [*enc, "--encoder", E + "small", "--cache", str(d["file"])]),
        C("probe", "", [*probe, "--seeds", "2", "--noise-rates", "0,0.3"], expect="accept"),
        # toy (figure5) and its modes
        C("toy", "--n-seeds", [*toy, "--seeds", "4"]),
        C("toy", "steps = 0", [*toy, "--steps", "0", "--json"], expect="warn"),
        C("toy", "one class", [*toy, "--sparsity", "0.99999", "--json"], expect="warn"),
        C("toy", "10000000", [*toy, "--sigma", "1e7"]),
        C("toy", "10000000", [*toy, "--sigma-sd", "1e7"]),
        C("toy sweep", "--noise-rates", [*sweep, "--task", "pair"]),
        C("toy sweep", "", [*sweep, "--task", "pair", "--noise-rates", "0,0.3"], expect="accept"),
        C("toy sweep", "poly", [*sweep, "--regimes", "mono-topk,oracle"]),
        C("toy sweep", "10000000", [*sweep, "--sigmas", "0,1e7"]),
        C("toy sweep", "twice", [*sweep, "--noise-rates", "0,0.3,0.3"]),
        C("toy sweep", "twice", [*sweep, "--sparsities", "0.5,0.5"]),
        C("toy sweep", "steps = 0", [*sweep, "--steps", "0", "--noise-rates", "0,0.3", "--json"], expect="warn"),
        C("toy search", "twice", [*search, "--search-sparsities", "0.5,0.5"]),
        C("toy search", "10000000", [*search, "--search-sigma-sds", "1e7"]),
        C("toy search", "twice", [*search, "--search-noise-rates", "0.5,0.5"]),
        C("toy search", "twice", [*search, "--search-probe-sizes", "64,64"]),
        C("toy search", "twice", [*search, "--search-regimes", "poly,oracle,oracle", "--search-select", "oracle"]),
        C("toy controls", "10000000", [*controls, "--controls-sigma-sds", "1e7"]),
        C("toy controls", "twice", [*controls, "--controls-ks", "2,2"]),
        C("toy controls", "twice", [*controls, "--controls-sparsities", "0.2,0.2"]),
        # lora-digits
        C("lora-digits", "twice", [*lora, "--noise-rates", "0,0.5,0.5"]),
        C("lora-digits", "twice", [*lora, "--methods", "full,full"]),
        C("lora-digits", "-0.5", [*lora, "--noise-rates", "0,-0.5"]),
        C("lora-digits", "0,0", [*lora, "--seeds", "0,0"]),
        # theory --plugin (and a negative list)
        C("theory --plugin", "plugin_exit.py", [*theory, "--plugin", e["plugin_exit.py"]]),
        C("theory --plugin", "", [*theory, "--plugin", e["plugin_print.py"], "--json"], expect="json"),
        C("theory --plugin", "", [*theory, "--plugin", e["plugin_chatty.py"], "--criterion", "chatty_demo",
                                  "--json"], expect="json"),
        C("theory --plugin", "plugin_syntax.py", [*theory, "--plugin", e["plugin_syntax.py"]]),
        C("theory --plugin", "is a folder", [*theory, "--plugin", str(e["mods"])]),
        C("theory --plugin", "not a .py file", [*theory, "--plugin", e["plugin_text.txt"]]),
        C("theory", "-1", [*theory, "--weights", "-1,1"]),
        # verify: a planted check script never runs; damaged files are one line
        C("verify", "C6", ["verify", e["v_planted"], "--retrain", "C6"], expect="damage", absent=e["marker"]),
        C("verify", "manifest.json", ["verify", e["v_manifest_list"]], expect="damage"),
        C("verify", "verdicts.json", ["verify", e["v_verdicts_null"]], expect="damage"),
        C("verify", "verdicts.json", ["verify", e["v_verdicts_list"]], expect="damage"),
        C("verify", "verdicts.json", ["verify", e["v_bad_json"]], expect="damage"),
        C("verify", "meta.checks", ["verify", e["v_checks_str"]], expect="damage"),
        C("verify", "meta.checks", ["verify", e["v_checks_escape"]], expect="damage"),
        C("verify", "c01_dummy.json", ["verify", e["v_part_bad"]], expect="damage"),
        C("verify", "meta.seed", ["verify", e["v_seed_bad"], "--retrain", "C1"], expect="damage"),
        C("verify", "sha256", ["verify", e["v_manifest_nosha"]], expect="damage"),
        C("verify", "extra/added.txt", ["verify", e["v_exclude"]], expect="damage"),
        C("verify", "sae.json", ["verify", e["inet_sae_list"]], expect="damage"),
        C("verify", "config.json", ["verify", e["inet_config_list"]], expect="damage"),
        C("verify", "config.json", ["verify", e["inet_config_bad"], "--retrain", "sae"], expect="damage"),
        C("verify", "nowhere", ["verify", str(e["chk"]), "--retrain", "C1", "--checks-dir",
                                str(Path(o).parent / "nowhere")]),
        C("verify", "applies only to --retrain of a run-imagenet folder",
          ["verify", str(e["chk"]), "--retrain", "C1", "--data-root", two]),
        C("verify", "nowhere", ["verify", e["inet"], "--retrain", "sae", "--data-root", str(Path(o).parent / "nowhere")]),
    ]


def api_cases(d: dict, e: dict) -> list[Case]:
    """API cases (``monotheory.probe``, ``monotheory.testing``)."""
    import torch
    from torch import nn

    from monotheory.config import as_tuple, check_unique
    from monotheory.noise import check_label_noise_rates, check_sigma, check_sigmas
    from monotheory.probe import ProfileConfig, profile_encoder, profile_features
    from monotheory.probe.images import probe_encoder
    from monotheory.testing import assert_agrees, rationals, sigmas, sparsities, z_value

    x = np.random.default_rng(0).normal(size=(30, 5))
    y = np.arange(30) % 3
    small = ProfileConfig(noise_rates=(0.0,), sigmas=(0.0,), n_resamples=100)
    P, T, V = "monotheory.probe", "monotheory.testing", "API (issue 23 validators)"

    def c(group, named, fn):
        return Case(group, named, call=fn)

    return [
        c(P, "config", lambda: profile_features(x, y, x, y, config={"noise_rates": (0.0,)})),
        c(P, "shifts", lambda: profile_features(x, y, x, y, config=small, shifts=np.zeros((3, 3)))),
        c(P, "Linear", lambda: profile_encoder(nn.Linear(3, 4), str(d["two"]), crop_size=8, config=small)),
        c(P, "nan", lambda: profile_encoder(nn.Flatten(), str(d["two"]), crop_size=8, config=small,
                                            mean=(float("nan"), 0, 0))),
        c(P, "twice", lambda: ProfileConfig(noise_rates=(0.3, 0.3))),
        c(P, "10000000", lambda: ProfileConfig(sigmas=(0.0, 1e7))),
        c(P, "'0.3'", lambda: ProfileConfig(noise_rates="0.3")),
        c(P, "test", lambda: profile_features(x, y, x[:2], y[:2], config=small)),
        c(T, "shape", lambda: assert_agrees([1.0, 2.0], [1.0, 2.0, 3.0], 1.0)),
        c(T, "abc", lambda: assert_agrees(0.5, "abc", 0.1)),
        c(T, "'x'", lambda: z_value(1, false_alarm="x")),
        c(T, "'a'", lambda: sparsities(min_value="a")),
        c(T, "'x'", lambda: rationals(0, "x")),
        c(T, "10000000", lambda: sigmas(max_value=1e7)),
        c(V, "twice", lambda: check_unique("ks", (1, 2, 1))),
        c(V, "'0.3'", lambda: as_tuple("noise_rates", "0.3")),
        c(V, "2.5", lambda: as_tuple("seeds", (1, 2.5), int)),
        c(V, "10000000", lambda: check_sigma("sigma", 1e7)),
        c(V, "nan", lambda: check_sigma("sigma", float("nan"))),
        c(V, "empty", lambda: check_sigmas("sigmas", ())),
        c(V, "twice", lambda: check_label_noise_rates("noise_rates", (0.1, 0.1))),
        c(V, "1.5", lambda: check_label_noise_rates("noise_rates", (0.1, 1.5))),
        c(P, "(1, 3)", lambda: probe_encoder(lambda x: torch.zeros(1, 3), [(torch.zeros(3, 4, 4), 0)] * 2,
                                             torch.device("cpu"), "my:enc", 4)),
    ]


# ------------------------------------------------------------------------------------------------ outcomes

CLEAR, RAW, SILENT, UNCLEAR = "clear", "raw exception", "silent exit 0", "unclear"


def classify_cli(case: Case, rc, out: str, err: str, exc: BaseException | None, wrote: set) -> tuple[str, str]:
    """(outcome, why) of one CLI run: ``rc`` the exit status (None when ``exc`` escaped ``main``)."""
    lines = err.strip().splitlines()
    if exc is not None or "Traceback" in err:
        return RAW, f"{type(exc).__name__ if exc else 'traceback'}: {str(exc)[:120] if exc else lines[-1][:120]}"
    if case.absent is not None and Path(case.absent).exists():
        return SILENT, f"planted code ran: {case.absent} exists"
    if case.expect in ("refuse", "damage"):
        ok_rc = (2,) if case.expect == "refuse" else (1, 2)
        if rc == 0:
            return SILENT, "exit 0"
        errors = [ln for ln in lines if "error" in ln or "mismatch" in ln]
        if rc not in ok_rc:
            return UNCLEAR, f"exit {rc}"
        if len(lines) != 1:
            return UNCLEAR, f"{len(lines)} lines on stderr: {err[:160]!r}"
        if not errors or case.named not in lines[0]:
            return UNCLEAR, f"does not name {case.named!r}: {lines[0][:160]}"
        if wrote:
            return UNCLEAR, f"wrote {sorted(wrote)[:3]}"
        return CLEAR, lines[0][:160]
    if rc != 0:
        return UNCLEAR, f"exit {rc}: {lines[-1][:160] if lines else ''}"
    if case.expect == "accept":
        return CLEAR, "exit 0"
    if case.expect == "json":
        try:
            json.loads(out)
        except ValueError:
            return SILENT, f"stdout is not JSON: {out[:60]!r}"
        return CLEAR, "stdout is JSON"
    warned = [ln for ln in lines if ln.startswith("warning") and case.named in ln]
    if not warned:
        return SILENT, "exit 0 without a warning line naming " + repr(case.named)
    if "--json" in case.argv:
        try:
            doc = json.loads(out)
        except ValueError:
            return UNCLEAR, "stdout is not JSON"
        if case.named not in json.dumps(doc.get("warnings", []), ensure_ascii=False):
            return UNCLEAR, "no 'warnings' entry in the JSON naming " + repr(case.named)
    return CLEAR, warned[0][:160]


def run_api(case: Case) -> tuple[str, str]:
    try:
        case.call()
    except ConfigError as ex:
        msg = str(ex)
        if case.named in msg and "\n" not in msg:
            return CLEAR, msg[:160]
        return UNCLEAR, f"does not name {case.named!r} in one line: {msg[:160]}"
    except Exception as ex:  # noqa: BLE001 - the census counts them
        return RAW, f"{type(ex).__name__}: {str(ex)[:120]}"
    return SILENT, "returned without an error"
