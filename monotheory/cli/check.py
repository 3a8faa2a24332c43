"""``monotheory check``: run every claim check that can run here and write ``results/verdicts.{json,md}``.

The runner is :mod:`monotheory.claims.runner`; :func:`script_main` is the command line of one check script run on
its own (``python paper_checks/c06_poly_separable_clean.py --out results``).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from monotheory.claims.runner import CheckContext, as_verdicts, default_checks_dir, run_checks, select_scripts
from monotheory.claims.verdict import ERROR, relative_figures
from monotheory.config import check_int
from monotheory.errors import ConfigError
from monotheory.files import atomic_write_json, check_out_dir, write_manifest


def script_main(run, argv: list[str] | None = None) -> int:
    """Entry point for running one check script on its own: prints its rows and writes its JSON."""
    p = argparse.ArgumentParser(description=(run.__module__ or "check"))
    p.add_argument("--out", default="results", help="results folder (default: results)")
    p.add_argument("--imagenet-results", default=None, help="a finished run-imagenet output folder")
    p.add_argument("--quick", action="store_true", help="small, fast settings")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.seed < 0:
        p.error(f"--seed {a.seed} is negative; it must be ≥ 0")
    ctx = CheckContext(Path(a.out), Path(a.imagenet_results) if a.imagenet_results else None, a.quick, a.seed)
    try:
        verdicts = relative_figures(as_verdicts(run(ctx)), ctx.out_dir)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    name = Path(sys.argv[0]).stem if argv is None else "check"
    atomic_write_json(Path(a.out) / "checks" / f"{name}.json", {"verdicts": [v.to_dict() for v in verdicts]})
    for v in verdicts:
        print(v.row())
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="results", help="results folder (default: results)")
    p.add_argument("--checks-dir", default=None, help="folder of check scripts (default: ./paper_checks)")
    p.add_argument("--imagenet-results", default=None,
                   help="a finished `monotheory run-imagenet` output folder, for the full-scale claims")
    p.add_argument("--only", default=None, help="comma-separated claim ids to run, e.g. C6,C7")
    p.add_argument("--quick", action="store_true", help="small settings (as in the test suite)")
    p.add_argument("--seed", type=int, default=0, help="base seed (default: 0)")
    p.add_argument("--force", action="store_true", help="rerun finished checks instead of reusing their results")


def main(args: argparse.Namespace) -> int:
    check_int("seed", args.seed, minimum=0)
    if args.imagenet_results is not None and not str(args.imagenet_results).strip():
        raise ConfigError("--imagenet-results '' is empty; give a run-imagenet output folder or leave it out")
    if args.checks_dir is not None and not str(args.checks_dir).strip():
        raise ConfigError("--checks-dir '' is empty; give a folder of check scripts or leave it out")
    res = Path(args.imagenet_results) if args.imagenet_results else None
    if res is not None and not res.is_dir():
        raise ConfigError(f"--imagenet-results {str(res)!r} is not a folder")
    checks_dir = Path(args.checks_dir) if args.checks_dir else default_checks_dir()
    out = check_out_dir(args.out, inputs={"--checks-dir": checks_dir, "--imagenet-results": res})
    only = [s.strip() for s in args.only.split(",")] if args.only is not None else None
    select_scripts(checks_dir, only)  # refuse a bad --only before any work
    ctx = CheckContext(out_dir=out, imagenet_results=res, quick=args.quick, seed=args.seed)
    t0 = time.perf_counter()
    meta = {"python": platform.python_version(), "machine": f"{platform.machine()} {platform.system()}, "
            f"{os.cpu_count()} cpus", "quick": args.quick, "seed": args.seed, "imagenet_results": res,
            "checks_dir": str(checks_dir.resolve())}
    verdicts = run_checks(checks_dir, ctx, only=only, force=args.force, meta=meta)
    write_manifest(out)
    print(f"wrote {out / 'verdicts.md'}, {out / 'verdicts.json'} and {out / 'manifest.json'} ({len(verdicts)} rows, "
          f"{time.perf_counter() - t0:.0f} s)")
    return 1 if any(v.verdict == ERROR for v in verdicts) else 0
