"""``monotheory check``: run every claim check that can run here and write ``results/verdicts.{json,md}``.

The runner is :mod:`monotheory.claims.runner`; :func:`script_main` is the command line of one check script run on
its own (``python paper_checks/c06_poly_separable_clean.py --out results``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
from pathlib import Path

from monotheory.claims.runner import CheckContext, as_verdicts, default_checks_dir, run_checks, select_scripts
from monotheory.claims.verdict import ERROR, relative_figures
from monotheory.config import add_dataclass_arguments, check_int, from_namespace, given_values
from monotheory.errors import ConfigError
from monotheory.files import atomic_write_json, check_out_dir, write_manifest


@dataclasses.dataclass
class CheckOptions:
    """What ``monotheory check`` runs, beside the :class:`CheckContext` every check gets."""

    checks_dir: str | None = dataclasses.field(default=None, metadata={
        "metavar": "DIR", "help": "folder of check scripts (None: the shipped paper_checks)"})
    only: str | None = dataclasses.field(default=None, metadata={
        "metavar": "IDS", "help": "comma-separated claim ids to run, e.g. C6,C7 (None: all)"})
    force: bool = dataclasses.field(default=False, metadata={
        "help": "rerun finished checks instead of reusing their results"})


def _context(args: argparse.Namespace) -> CheckContext:
    """The :class:`CheckContext` of parsed options, its values checked (one ConfigError sentence each)."""
    given = given_values(CheckContext, args)
    check_int("seed", given.get("seed", 0), minimum=0)
    out, res = str(given["out_dir"]), given.get("imagenet_results")
    if not out.strip():
        raise ConfigError(f"--out {out!r} is empty; give a results folder")
    if res is not None and not str(res).strip():
        raise ConfigError("--imagenet-results '' is empty; give a run-imagenet output folder or leave it out")
    if res is not None and not Path(res).is_dir():
        raise ConfigError(f"--imagenet-results {str(res)!r} is not a folder")
    return CheckContext(**{**given, "out_dir": Path(out), "imagenet_results": Path(res) if res else None})


def script_main(run, argv: list[str] | None = None) -> int:
    """Entry point for running one check script on its own: prints its rows and writes its JSON. Its options are
    :class:`CheckContext`'s (``--out``, ``--imagenet-results``, ``--quick``, ``--seed``)."""
    p = argparse.ArgumentParser(description=(run.__module__ or "check"))
    add_dataclass_arguments(p, CheckContext)
    a = p.parse_args(argv)
    try:
        ctx = _context(a)
        verdicts = relative_figures(as_verdicts(run(ctx)), ctx.out_dir)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    name = Path(sys.argv[0]).stem if argv is None else "check"
    atomic_write_json(ctx.out_dir / "checks" / f"{name}.json", {"verdicts": [v.to_dict() for v in verdicts]})
    for v in verdicts:
        print(v.row())
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Every option from a config: :class:`CheckContext` and :class:`CheckOptions`."""
    add_dataclass_arguments(p, CheckContext)
    add_dataclass_arguments(p, CheckOptions)


def main(args: argparse.Namespace) -> int:
    opts = from_namespace(CheckOptions, args)
    ctx = _context(args)
    if opts.checks_dir is not None and not str(opts.checks_dir).strip():
        raise ConfigError("--checks-dir '' is empty; give a folder of check scripts or leave it out")
    res = ctx.imagenet_results
    checks_dir = Path(opts.checks_dir) if opts.checks_dir else default_checks_dir()
    out = check_out_dir(ctx.out_dir, inputs={"--checks-dir": checks_dir, "--imagenet-results": res})
    only = [s.strip() for s in opts.only.split(",")] if opts.only is not None else None
    select_scripts(checks_dir, only)  # refuse a bad --only before any work
    ctx = dataclasses.replace(ctx, out_dir=out)
    t0 = time.perf_counter()
    meta = {"python": platform.python_version(), "machine": f"{platform.machine()} {platform.system()}, "
            f"{os.cpu_count()} cpus", "quick": ctx.quick, "seed": ctx.seed, "imagenet_results": res,
            "checks_dir": str(checks_dir.resolve())}
    verdicts = run_checks(checks_dir, ctx, only=only, force=opts.force, meta=meta)
    write_manifest(out)
    print(f"wrote {out / 'verdicts.md'}, {out / 'verdicts.json'} and {out / 'manifest.json'} ({len(verdicts)} rows, "
          f"{time.perf_counter() - t0:.0f} s)")
    return 1 if any(v.verdict == ERROR for v in verdicts) else 0
