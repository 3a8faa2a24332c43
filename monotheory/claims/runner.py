"""``monotheory check``: run every claim check in ``paper_checks/`` and write the verdict table.

A check is a small script ``paper_checks/cNN_*.py`` that defines ``run(ctx: CheckContext)`` returning a
:class:`~monotheory.claims.verdict.Verdict` or a list of them, and ends with ``script_main(run)`` so it also runs
on its own (``python paper_checks/c06_poly_separable_clean.py``). ``monotheory check`` loads them in
process (torch is imported once), writes ``results/checks/<file>.json`` after each check and rewrites
``results/verdicts.json`` / ``results/verdicts.md`` from those per-check files, so a killed run loses at most
the check in flight. Figure paths are stored relative to the results folder, so ``verdicts.md`` does not depend on
the working folder. A check that raises is recorded as ``error`` and makes the command exit with status 1;
the others still run.

Resuming: each per-check file carries a ``key`` (SHA-256 of the script, SHA-256 of the monotheory package
sources, seed, quick, the ``--imagenet-results`` folder and its manifest); a rerun reuses a finished check whose
key matches (and which did not end in ``error``) unless ``--force``. At the end ``manifest.json`` records the
SHA-256 of every result file; ``monotheory verify`` re-derives the verdict table and checks the manifest.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.util
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

from monotheory.claims.verdict import ERROR, Verdict, relative_figures, skipped, write_verdicts
from monotheory.config import check_int
from monotheory.errors import ConfigError
from monotheory.files import atomic_write_json, check_out_dir, remove_stale_temps, sha256_file, write_manifest

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


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def library_sha256() -> str:
    """SHA-256 over the monotheory package's Python sources (paths and bytes): a check's result depends on them."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def check_key(path: Path, ctx: CheckContext, library: str | None = None) -> dict:
    """What a check's result depends on: its source, the library's, and its inputs (see the module docstring)."""
    res = ctx.imagenet_results
    manifest = Path(res) / "manifest.json" if res is not None else None
    return {"script_sha256": sha256_file(path), "library_sha256": library or library_sha256(),
            "seed": ctx.seed, "quick": bool(ctx.quick), "imagenet_results": str(Path(res).resolve()) if res else None,
            "imagenet_manifest_sha256": sha256_file(manifest) if manifest is not None and manifest.is_file()
            else None}


def select_scripts(checks_dir, only: list[str] | None) -> list[Path]:
    """The scripts of ``checks_dir`` whose claim id (``C6``) or file prefix (``c06``) is in ``only`` (all if None);
    an empty or unknown id is refused."""
    scripts = discover(checks_dir)
    if only is None:
        return scripts
    if not only or any(not c for c in only):
        raise ConfigError(f"--only {','.join(only)!r} holds an empty claim id; give ids such as C6,C7")
    ids = {claim_id(p) for p in scripts} | {p.stem.split("_")[0].upper() for p in scripts}
    for c in only:
        if c.upper() not in ids:
            raise ConfigError(f"--only {c} matches no check in {str(checks_dir)!r} (there: "
                              f"{', '.join(claim_id(p) for p in scripts)})")
    wanted = {c.upper() for c in only}
    return [p for p in scripts if claim_id(p) in wanted or p.stem.split("_")[0].upper() in wanted]


def load_part(path: Path) -> dict | None:
    """A per-check result file, or None when missing or unreadable (then the check is rerun)."""
    try:
        d = json.loads(Path(path).read_text())
        [Verdict(**v) for v in d["verdicts"]]
        return d
    except (OSError, ValueError, KeyError, TypeError):
        return None


def verdicts_of_parts(out: Path, parts: list[str]) -> list[Verdict]:
    """The verdicts stored in the per-check files ``parts`` (paths relative to ``out``), in order."""
    rows = []
    for rel in parts:
        d = load_part(out / rel)
        if d is None:
            raise ConfigError(f"{out / rel} is missing or not a check result file")
        rows += [Verdict(**v) for v in d["verdicts"]]
    return rows


def run_checks(checks_dir: str | os.PathLike, ctx: CheckContext, only: list[str] | None = None,
               echo=print, force: bool = False, meta: dict | None = None) -> list[Verdict]:
    """Run every check (or those whose claim id is in ``only``), writing results as it goes.

    A finished check with the same key is reused unless ``force``; ``verdicts.json``/``.md`` are rewritten from
    the per-check files after each check (with ``meta`` plus the list of those files under ``"checks"``)."""
    scripts = select_scripts(checks_dir, only)
    out = Path(ctx.out_dir)
    remove_stale_temps(out)
    library = library_sha256()
    parts: list[str] = []
    all_verdicts: list[Verdict] = []
    for path in scripts:
        key = check_key(path, ctx, library)
        rel = f"checks/{path.stem}.json"
        prev = None if force else load_part(out / rel)
        if prev is not None and prev.get("key") == key and all(v["verdict"] != ERROR for v in prev["verdicts"]):
            verdicts = [Verdict(**v) for v in prev["verdicts"]]
            echo(f"  ({path.name}: reused the finished result, {prev.get('seconds', 0):.1f} s; --force reruns it)")
        else:
            t0 = time.perf_counter()
            verdicts = relative_figures(run_check(path, ctx), out)  # figure paths relative to the folder
            dt = time.perf_counter() - t0
            atomic_write_json(out / rel, {"script": path.name, "key": key, "seconds": dt,
                                          "verdicts": [v.to_dict() for v in verdicts]})
            echo(f"  ({path.name}: {dt:.1f} s)")
        for v in verdicts:
            echo(v.row())
        parts.append(rel)
        all_verdicts.extend(verdicts)
        write_verdicts(verdicts_of_parts(out, parts), out, {**(meta or {}), "checks": parts})
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
        verdicts = relative_figures(_as_list(run(ctx)), ctx.out_dir)
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
