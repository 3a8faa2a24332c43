"""``monotheory check``: run every claim check in ``paper_checks/`` and write the verdict table.

A check is a small script ``paper_checks/cNN_*.py`` that defines ``run(ctx: CheckContext)`` returning a
:class:`~monotheory.report.Verdict` or a list of them, and ends with ``script_main(run)`` so it also runs
on its own (``python paper_checks/c06_poly_separable_clean.py``). ``monotheory check`` loads them in
process (torch is imported once), writes ``results/checks/<file>.json`` after each check, and
``results/verdicts.json`` / ``results/verdicts.md`` at the end. A check that raises is recorded as
``error`` and makes the command exit with status 1; the others still run.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import platform
import sys
import time
import traceback
from pathlib import Path

from monotheory.config import check_int
from monotheory.errors import ConfigError
from monotheory.report import ERROR, Verdict, atomic_write_json, skipped, write_verdicts

# optional dependency (top-level module name) → the extra that installs it
EXTRAS = {"torch": "toy", "torchvision": "vision", "PIL": "vision", "sklearn": "vision",
          "peft": "llm", "transformers": "llm"}


def missing_extra(error: ModuleNotFoundError) -> str | None:
    """The extra that would install the module whose import failed, or None if it is not an optional one."""
    return EXTRAS.get((error.name or "").split(".")[0])


@dataclasses.dataclass
class CheckContext:
    """What a check may use: where to write, what data exists, how much time to spend.

    ``out_dir``: the results folder (figures go under ``out_dir / "figures"``). ``imagenet_results``: a
    finished ``run-imagenet`` output folder, or ``None`` (full-scale checks then skip). ``quick``: use the
    small settings of the test suite. ``seed``: base seed for every random draw of the checks.
    """

    out_dir: Path
    imagenet_results: Path | None = None
    quick: bool = False
    seed: int = 0

    @property
    def figures_dir(self) -> Path:
        d = Path(self.out_dir) / "figures"
        d.mkdir(parents=True, exist_ok=True)
        return d


def default_checks_dir() -> Path:
    """The claim checks: the installed package ``monotheory.paper_checks`` (mapped from the source tree's
    ``paper_checks/``), or that folder beside the package when running from an uninstalled checkout."""
    try:
        import monotheory.paper_checks
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[1] / "paper_checks"
    return Path(monotheory.paper_checks.__file__).resolve().parent


def discover(checks_dir: str | os.PathLike) -> list[Path]:
    """The check scripts in ``checks_dir`` (``c*.py``), in claim order."""
    d = Path(checks_dir)
    if not d.is_dir():
        raise ConfigError(f"checks folder {str(d)!r} does not exist")
    scripts = sorted(p for p in d.glob("c*.py") if p.is_file())
    if not scripts:
        raise ConfigError(f"checks folder {str(d)!r} holds no check scripts (c*.py)")
    return scripts


def load_check(path: Path):
    spec = importlib.util.spec_from_file_location(f"paper_checks.{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "run", None)):
        raise ConfigError(f"check script {path.name} defines no run(ctx) function")
    return module


def _as_list(result) -> list[Verdict]:
    items = result if isinstance(result, (list, tuple)) else [result]
    for v in items:
        if not isinstance(v, Verdict):
            raise TypeError(f"a check returned {type(v).__name__}, not a Verdict")
    return list(items)


def claim_id(path: Path) -> str:
    """``c06_poly_separable_clean.py`` → ``C6`` (the id the checks themselves use)."""
    head = path.stem.split("_")[0]
    return "C" + str(int(head[1:])) if head[1:].isdigit() else head.upper()


def run_check(path: Path, ctx: CheckContext) -> list[Verdict]:
    """Run one check script; an exception becomes an ``error`` row (with the traceback in ``details``)."""
    try:
        verdicts = _as_list(load_check(path).run(ctx))
    except ModuleNotFoundError as e:
        extra = missing_extra(e)
        if extra is None:
            raise
        verdicts = [skipped(claim_id(path), path.stem, f"needs {e.name}: install monotheory[{extra}]")]
    except ConfigError as e:
        verdicts = [Verdict(claim_id=claim_id(path), claim=path.stem, verdict=ERROR, measured=str(e))]
    except Exception as e:  # noqa: BLE001 — one broken check must not hide the others
        verdicts = [Verdict(claim_id=claim_id(path), claim=path.stem, verdict=ERROR,
                            measured=f"{type(e).__name__}: {e}",
                            details={"traceback": traceback.format_exc()})]
    return verdicts


def run_checks(checks_dir: str | os.PathLike, ctx: CheckContext, only: list[str] | None = None,
               echo=print) -> list[Verdict]:
    """Run every check (or those whose claim id is in ``only``), writing results as it goes."""
    scripts = discover(checks_dir)
    if only:
        wanted = {c.upper() for c in only}
        scripts = [p for p in scripts if claim_id(p) in wanted or p.stem.split("_")[0].upper() in wanted]
        if not scripts:
            raise ConfigError(f"--only {','.join(only)} matches no check in {str(checks_dir)!r}")
    out = Path(ctx.out_dir)
    all_verdicts: list[Verdict] = []
    for path in scripts:
        t0 = time.perf_counter()
        verdicts = run_check(path, ctx)
        dt = time.perf_counter() - t0
        atomic_write_json(out / "checks" / f"{path.stem}.json",
                          {"script": path.name, "seconds": dt, "verdicts": [v.to_dict() for v in verdicts]})
        for v in verdicts:
            echo(v.row())
        echo(f"  ({path.name}: {dt:.1f} s)")
        all_verdicts.extend(verdicts)
    return all_verdicts


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
        verdicts = _as_list(run(ctx))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    name = Path(sys.argv[0]).stem if argv is None else "check"
    atomic_write_json(Path(a.out) / "checks" / f"{name}.json", {"verdicts": [v.to_dict() for v in verdicts]})
    for v in verdicts:
        print(v.row())
    return 0


# ------------------------------------------------------------------------------------------------------ CLI


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="results", help="results folder (default: results)")
    p.add_argument("--checks-dir", default=None, help="folder of check scripts (default: ./paper_checks)")
    p.add_argument("--imagenet-results", default=None,
                   help="a finished `monotheory run-imagenet` output folder, for the full-scale claims")
    p.add_argument("--only", default=None, help="comma-separated claim ids to run, e.g. C6,C7")
    p.add_argument("--quick", action="store_true", help="small settings (as in the test suite)")
    p.add_argument("--seed", type=int, default=0, help="base seed (default: 0)")


def main(args: argparse.Namespace) -> int:
    check_int("seed", args.seed, minimum=0)
    out = Path(args.out)
    res = Path(args.imagenet_results) if args.imagenet_results else None
    if res is not None and not res.is_dir():
        raise ConfigError(f"--imagenet-results {str(res)!r} is not a folder")
    ctx = CheckContext(out_dir=out, imagenet_results=res, quick=args.quick, seed=args.seed)
    checks_dir = Path(args.checks_dir) if args.checks_dir else default_checks_dir()
    only = [s.strip() for s in args.only.split(",")] if args.only else None
    t0 = time.perf_counter()
    verdicts = run_checks(checks_dir, ctx, only=only)
    meta = {"seconds": time.perf_counter() - t0, "python": platform.python_version(),
            "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} cpus",
            "quick": args.quick, "seed": args.seed, "imagenet_results": res}
    j, m = write_verdicts(verdicts, out, meta)
    print(f"wrote {m} and {j} ({len(verdicts)} rows, {meta['seconds']:.0f} s)")
    return 1 if any(v.verdict == ERROR for v in verdicts) else 0
