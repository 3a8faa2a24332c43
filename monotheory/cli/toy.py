"""``monotheory toy [figure5|sweep] [options]``: the toy-model experiments of Figure 5.

* ``monotheory toy`` (mode ``figure5``, the default): train every regime × seed, probe clean / under label
  noise / under input noise; print per regime the accuracies with 95 % intervals, the gap to poly and the
  monosemanticity score of the hidden code (``--json``: the whole result as JSON on stdout); write
  ``results.json``, ``fig5a_wtw.png`` and ``fig5b_accuracy.png`` in ``--out``. The table also gives the
  label-free measures of each hidden code (features per hidden unit, feature recovery against the unit axes)
  and whether it counts as monosemantic (rule printed below the table), and the chance level.
* ``monotheory toy search``: the recorded condition search on the search seeds (``--search-*`` options give
  the grid); writes ``search.json`` (grid, every cell, selection), the phase maps and the probe-size figure;
  ``--write-conditions`` also writes the selection to the package's ``data/toy_conditions.json``
  (``make toy-search``), which C5 re-runs on held-out seeds.
* ``monotheory toy controls``: the C5 control grid (:mod:`monotheory.toy.controls`): every top-k code at every
  k of ``--controls-ks``, the argmax and pair tasks, all and capacity-matched labels, on ``--seed``/``--n-seeds``
  (``make toy-controls``: held-out seeds 100–119); writes ``controls.json`` (grid, decided rows, DiD tables,
  timings), ``controls.md`` and ``k_sweep.png`` in ``--out``.
* ``monotheory toy sweep``: accuracy against label-noise rate and σ (``sweeps.png``), and the map over
  (sparsity, noise) of mono − poly accuracy (``phase_map.png``); sweep options (``--noise-rates``,
  ``--sigmas``, ``--sparsities``, ``--map-noise``, ``--mono``) only apply to this mode.

The mode is an optional positional word rather than an argparse subparser, so every option can come
before or after it. torch (the toy layer: experiments, sweeps, search) is imported only inside :func:`main`. ``--json`` prints one JSON object on stdout
instead of the table; ``--quiet`` hides the progress bars (as for ``monotheory theory``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path

from monotheory.claims import toy_controls
from monotheory.config import add_dataclass_arguments, from_namespace, given_options, to_dict
from monotheory.errors import ConfigError
from monotheory.files import atomic_write_json, atomic_write_text, check_out_dir, to_jsonable
from monotheory.progress import announce
from monotheory.toy import degenerate, plots, tables
from monotheory.toy.config import DEFAULT_STEPS, SearchConfig, SweepConfig, ToyConfig
from monotheory.toy.controls import ControlsConfig

MODES = ("figure5", "sweep", "search", "controls")
# ToyConfig options that `toy controls` sets itself (per regime, k, task and σ of the grid)
CONTROLS_SETS = ("sparsity", "regimes", "topk", "task", "sigma", "sigma_sd")
# the training part of the default figure5 run (1000 steps): 5.1 s on the quiet 2-core CPU, 2026-12-03 (fused trainer);
# under load it is slower, not faster: 8.6-12.5 s at load average 7, and 10000 steps took 107 s at load 9 (2026-12-04)
TOY_DEFAULT_SECONDS = 5.1


@dataclasses.dataclass
class ToyRun:
    """How ``monotheory toy`` runs and reports (not part of the experiment's config)."""

    out: str = dataclasses.field(default="results/toy", metadata={"metavar": "DIR", "help": "output folder"})
    json: bool = dataclasses.field(default=False, metadata={
        "help": "print one JSON object on stdout instead of the table"})
    quiet: bool = dataclasses.field(default=False, metadata={"help": "no progress bar"})
    threads: int | None = dataclasses.field(default=None, metadata={"help": "torch CPU threads (None: torch's)"})
    write_conditions: bool = dataclasses.field(default=False, metadata={
        "help": "search mode: also write the selection to monotheory/data/toy_conditions.json"})

    def __post_init__(self):
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise ConfigError(f"--threads = {self.threads} must be ≥ 1")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The mode is the one hand-written argument: a positional word, so that options can come before or after
    it; every option comes from a config (ToyConfig, SweepConfig, SearchConfig, ControlsConfig, ToyRun)."""
    parser.add_argument("mode", nargs="?", default="figure5", choices=MODES,
                        help="figure5 (default): one setting, all regimes; sweep: noise sweeps and phase map; "
                             "search: the recorded condition search; controls: the C5 control grid")
    add_dataclass_arguments(parser, ToyConfig)
    add_dataclass_arguments(parser, SweepConfig)
    add_dataclass_arguments(parser, SearchConfig, prefix="search-")
    add_dataclass_arguments(parser, ControlsConfig, prefix="controls-")
    add_dataclass_arguments(parser, ToyRun)


def _fmt_ci(d: dict) -> str:
    lo, hi = d["ci"]
    return f"{d['mean']:.3f} [{lo:.3f}, {hi:.3f}]" if lo == lo else f"{d['mean']:.3f}"


def _table(summary: dict, chance: float | None = None) -> str:
    lines = [f"{'regime':<14} {'clean':<22} {'label noise':<22} {'input noise':<22} represented  interference  "
             "features/unit  recovery  monosemantic (seeds)"]
    for r, row in summary.items():
        cells = [_fmt_ci(row[c]) for c in ("clean", "label_noise", "input_noise")]
        c = row["code"]
        unit = (f"{c['features_per_unit']:<14.2f} {c['unit_feature_recovery']:<9.2f}" if "features_per_unit" in c
                else f"{'— (linear)':<14} {'—':<9}")
        k, n = sum(c["monosemantic_per_seed"]), len(c["monosemantic_per_seed"])
        mono = f"{'yes' if row['monosemantic'] else 'no'} ({k}/{n})"
        lines.append(f"{r:<14} {cells[0]:<22} {cells[1]:<22} {cells[2]:<22} {c['represented']:<12.1f} "
                     f"{c['interference']:<13.3f} {unit} {mono}")
        gaps = [row[c_].get("gap_vs_poly") for c_ in ("clean", "label_noise", "input_noise")]
        if all(gaps):
            lines.append(f"{'  − poly':<14} " + " ".join(f"{_fmt_ci(g):<22}" for g in gaps))
    if chance is not None:
        lines.append(f"chance (majority-class rate of the test labels): {chance:.3f}")
    return "\n".join(lines)


# modes that do not use ToyConfig.noise_rate, and the option they take their label-noise rates from
OWN_RATES = {"sweep": "--noise-rates", "search": "--search-noise-rates"}


@contextlib.contextmanager
def _defaults_named(given, option: str, default):
    """A ConfigError caused by an option's default (not given by the user) says so and names the option, so that no
    message names a value the user never typed without saying where it comes from."""
    try:
        yield
    except ConfigError as e:
        if given is not None:
            raise
        shown = ",".join(f"{v:g}" for v in default) if isinstance(default, tuple) else f"{default:g}"
        raise ConfigError(f"{e} (the default of {option}, {shown}; give {option} yourself)") from None


def _configs(args: argparse.Namespace):
    """ToyConfig, SweepConfig and SearchConfig of the command line (sweep and search do not use --noise-rate)."""
    if args.mode in OWN_RATES:
        if args.noise_rate is not None:
            raise ConfigError(f"--noise-rate {args.noise_rate:g} does not apply to `monotheory toy {args.mode}`, which "
                              f"takes its label-noise rates from {OWN_RATES[args.mode]}")
        cfg = from_namespace(ToyConfig, args, noise_rate=0.0)  # not used: recorded as 0, checked against nothing
    else:
        with _defaults_named(args.noise_rate, "--noise-rate", ToyConfig.noise_rate):
            cfg = from_namespace(ToyConfig, args)
    return cfg, from_namespace(SweepConfig, args), from_namespace(SearchConfig, args, prefix="search-")


def main(args: argparse.Namespace) -> int:
    cfg, sw, sc = _configs(args)
    cc = from_namespace(ControlsConfig, args, prefix="controls-")
    run = from_namespace(ToyRun, args)
    for mode, given in (("sweep", given_options(SweepConfig, args)),
                        ("search", given_options(SearchConfig, args, prefix="search-")
                         + (["--write-conditions"] if run.write_conditions else [])),
                        ("controls", given_options(ControlsConfig, args, prefix="controls-"))):
        if args.mode != mode and given:
            raise ConfigError(f"{given[0]} only applies to `monotheory toy {mode}`")
    if args.mode == "controls":
        given = [o for o in given_options(ToyConfig, args) if o.removeprefix("--").replace("-", "_") in CONTROLS_SETS]
        if given:
            raise ConfigError(f"{given[0]} does not apply to `monotheory toy controls`, which sets it per cell of the "
                              "grid; use the --controls-* options")
        cc.check_against(cfg)
    if args.mode == "search":
        with _defaults_named(args.search_noise_rates, "--search-noise-rates", SearchConfig.noise_rates):
            sc.check_against(cfg)
    if args.mode == "sweep":  # e.g. flip rates ≥ 1/2 would invert the binary pair task's labels
        with _defaults_named(args.noise_rates, "--noise-rates", SweepConfig.noise_rates):
            sw.check_against(cfg)
    if args.mode == "sweep" and sw.mono not in cfg.regimes:  # issue 11: it built an oracle map silently
        raise ConfigError(f"--mono {sw.mono} is not among --regimes {','.join(cfg.regimes)}; add it or choose one of those")
    check_out_dir(run.out)  # before training (issue 11)
    import torch  # the toy layer needs torch: imported only when a run starts, so --help and bad input stay light

    from monotheory.toy import experiments, grid, search, sweeps

    if run.threads:
        torch.set_num_threads(run.threads)
    out = Path(run.out)
    long = announce("toy", "--steps", cfg.steps, DEFAULT_STEPS, TOY_DEFAULT_SECONDS, quiet=run.quiet)
    progress = False if run.quiet else (long or sys.stderr.isatty())
    if args.mode == "figure5":
        res = experiments.run_figure5(cfg, progress=progress)
        res = {"config": to_dict(cfg), **res, "warnings": degenerate.figure5_warnings(cfg, res)}
        _warn(res["warnings"])
        atomic_write_json(out / "results.json", res)
        plots.save(plots.plot_wtw(res["WtW_seed0"]), out / "fig5a_wtw.png", res["WtW_seed0"])
        title = (f"n={cfg.n}, m={cfg.m}, S={cfg.sparsity}, η={cfg.noise_rate}, σ={res['sigma']:.3g} "
                 f"({res['sigma_sd']:.3g} feature sd)")
        plots.save(plots.plot_accuracy_bars(res["summary"], title=title, chance=res["chance"]),
                   out / "fig5b_accuracy.png", plots.bars_data(res["summary"], res["chance"]))
        if run.json:
            slim = {k: v for k, v in res.items() if k != "WtW_seed0"}
            print(json.dumps(to_jsonable(slim), indent=2))
        else:
            print(f"S = {cfg.sparsity:g}; input noise σ = {res['sigma']:.4g} = {res['sigma_sd']:.3g} feature sd; "
                  f"label noise {cfg.noise_rate:g}; probe on {cfg.probe_train} samples")
            print(_table(res["summary"], res.get("chance")))
            print(res["monosemantic_rule"])
            print("".join(f"warning: {w}\n" for w in res["warnings"]), end="")
            print(f"wrote {out / 'results.json'} and figures ({res['train_seconds']:.1f} s training)")
        return 0
    if args.mode == "search":
        return _search(search, cfg, sc, out, run, progress)
    if args.mode == "controls":
        return _controls(grid, cfg, cc, out, run, progress)
    swept = sweeps.run_sweeps(cfg, sw, progress=progress)
    pmap = sweeps.run_phase_map(cfg, sw, progress=progress)
    res = {"config": to_dict(cfg), "sweep_config": to_dict(sw), "sweeps": swept, "phase_map": pmap,
           "warnings": degenerate.untrained(cfg, [*cfg.regimes, "poly", sw.mono])}
    _warn(res["warnings"])
    atomic_write_json(out / "sweep_results.json", res)
    plots.save(plots.plot_sweeps(swept), out / "sweeps.png", swept)
    plots.save(plots.plot_phase_map(pmap), out / "phase_map.png", pmap)
    if run.json:
        print(json.dumps(to_jsonable(res), indent=2))
    else:
        print(f"mono ({sw.mono}) − poly accuracy, rows = sparsity, columns = {pmap['noise_label']}:")
        for i, s in enumerate(pmap["sparsities"]):
            cells = []
            for j in range(len(pmap["levels"])):
                g, lo, hi = pmap["gap"][i][j], pmap["ci_lo"][i][j], pmap["ci_hi"][i][j]
                cells.append(f"{g:+.3f}{'*' if lo > 0 or hi < 0 else ' '}")
            print(f"  S={s:<5g} " + " ".join(cells))
        print("".join(f"warning: {w}\n" for w in res["warnings"]), end="")
        print(f"(* = 95 % interval excludes 0); wrote {out / 'sweep_results.json'} and figures")
    return 0


def _search(search, cfg, sc, out: Path, run: ToyRun, progress: bool) -> int:
    """``monotheory toy search`` (``search`` is :mod:`monotheory.toy.search`, imported by :func:`main`)."""
    res = search.run_search(sc, cfg, progress=progress)
    res["config"], res["search_config"] = to_dict(cfg), to_dict(sc)
    res["warnings"] = degenerate.untrained(cfg, sc.regimes)
    _warn(res["warnings"])
    atomic_write_json(out / "search.json", res)
    figs = plots.search_figures(res, out)
    if run.write_conditions:
        print(f"wrote {search.write_conditions(res)}")
    if run.json:
        print(json.dumps(to_jsonable(res["selected"]), indent=2))
    else:
        print(res["score_rule"])
        for c in res["selected"]:
            print(f"  {c['regime']}: S={c['sparsity']:g}, {c['importance']}, probe {c['probe_size']}, "
                  f"η={c['noise_rate']:g}, σ={c['sigma_sd']:g} sd → score {c['score']:+.2f} (t clean "
                  f"{c['t_clean']:+.2f}, label {c['t_label']:+.2f}, input {c['t_input']:+.2f})")
        if not res["selected"]:
            print("  nothing selected: no (S, importance) where mono is monosemantic and poly polysemantic")
        print("".join(f"warning: {w}\n" for w in res["warnings"]), end="")
        print(f"wrote {out / 'search.json'} and {len(figs)} figures")
    return 0


def _controls(grid, cfg, cc, out: Path, run: ToyRun, progress: bool) -> int:
    """``toy controls``; ``grid`` is :mod:`monotheory.toy.grid`, imported by :func:`main` (it needs torch)."""
    t0 = time.perf_counter()
    res = grid.run_grid(cc, cfg, progress=progress)
    axes = (cc.tasks, cc.sparsities, cc.labels, cc.sigma_sds)
    rows = toy_controls.decided_rows(tables.control_rows(res, *axes))
    mech = [toy_controls.decide_mechanism(t) for t in tables.control_tables(res, *axes)]
    seconds = time.perf_counter() - t0
    held = f"seeds {cfg.seed}–{cfg.seed + cfg.n_seeds - 1}"
    header = (f"{held}; n={cfg.n}, m={cfg.m}, {cfg.importance} importance, {cfg.steps} Adam steps, probe "
              f"{cfg.probe_train}, η={cfg.noise_rate:g} ({res['noise_models']}); {seconds:.0f} s wall "
              f"({res['train_seconds']:.0f} s training) on {platform.node()}, load {_load()}")
    doc = {"config": to_dict(cfg), "controls": to_dict(cc), "seeds": held, "wall_seconds": seconds,
           "rows": rows, "mechanism": mech, "grid": res, "warnings": degenerate.untrained(cfg, cc.regimes)}
    _warn(doc["warnings"])
    atomic_write_json(out / "controls.json", doc)
    atomic_write_text(out / "controls.md", tables.controls_md(res, rows, mech, header))
    fig = plots.save(plots.plot_k_sweep(rows), out / "k_sweep.png", plots.k_sweep_data(rows))
    if run.json:
        print(json.dumps(to_jsonable({"rows": rows, "mechanism": mech, "warnings": doc["warnings"]}), indent=2))
    else:
        print(header)
        print(tables.rows_md(rows))
        print("".join(f"warning: {w}\n" for w in doc["warnings"]), end="")
        print(f"wrote {out / 'controls.json'}, {out / 'controls.md'} and {fig}")
    return 0


def _warn(warnings: list[str]) -> None:
    for w in warnings:  # also in the JSON ("warnings") and beside the table
        print(f"warning: {w}", file=sys.stderr)


def _load() -> str:
    try:
        return "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        return "unknown"
