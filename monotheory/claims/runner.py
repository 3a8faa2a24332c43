"""The check runner behind ``monotheory check``: run every claim check in ``paper_checks/``, write the verdicts.

A check is a small script ``paper_checks/cNN_*.py`` that defines ``run(ctx: CheckContext)`` returning a
:class:`~monotheory.claims.verdict.Verdict` or a list of them, and ends with ``script_main(run)``
(:func:`monotheory.cli.check.script_main`) so it also runs on its own (``python
paper_checks/c06_poly_separable_clean.py``). ``monotheory check`` loads them in process (torch is imported once), writes ``results/checks/<file>.json`` after each check and rewrites
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

import dataclasses
import hashlib
import importlib.util
import json
import os
import time
import traceback
from pathlib import Path

from monotheory.claims.verdict import ERROR, Verdict, relative_figures, skipped, write_verdicts
from monotheory.errors import ConfigError
from monotheory.files import atomic_write_json, remove_stale_temps, sha256_file

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

    out_dir: Path = dataclasses.field(metadata={"flag": "out", "default": "results", "metavar": "DIR",
                                                "help": "results folder"})
    imagenet_results: Path | None = dataclasses.field(default=None, metadata={
        "metavar": "DIR", "help": "a finished `monotheory run-imagenet` output folder, for the full-scale claims"})
    quick: bool = dataclasses.field(default=False, metadata={"help": "small settings (as in the test suite)"})
    seed: int = dataclasses.field(default=0, metadata={"help": "base seed of every random draw of the checks"})

    @property
    def figures_dir(self) -> Path:
        d = Path(self.out_dir) / "figures"
        d.mkdir(parents=True, exist_ok=True)
        return d


def default_checks_dir() -> Path:
    """The claim checks: the installed package ``monotheory.paper_checks`` (mapped from the source tree's
    ``paper_checks/``), or that folder beside the package when running from an uninstalled checkout."""
    spec = importlib.util.find_spec("monotheory.paper_checks")
    if spec is None or spec.origin is None:
        return Path(__file__).resolve().parents[2] / "paper_checks"
    return Path(spec.origin).resolve().parent


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


def as_verdicts(result) -> list[Verdict]:
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
        verdicts = as_verdicts(load_check(path).run(ctx))
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
    root = Path(__file__).resolve().parents[1]  # the monotheory package (this file is claims/runner.py)
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
