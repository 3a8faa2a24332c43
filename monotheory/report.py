"""Verdicts and result files.

A :class:`Verdict` is one row of the paper-check table: the claim, what the software measured, an
interval, the conditions of the measurement, and one of ``reproduced`` / ``partly reproduced`` /
``not reproduced`` / ``skipped`` (with the reason in ``conditions``) / ``error``. Every file is written
atomically (temporary file + ``os.replace``) so an interrupted run never leaves half a result.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from monotheory.errors import ConfigError

REPRODUCED = "reproduced"
PARTLY = "partly reproduced"
NOT_REPRODUCED = "not reproduced"
SKIPPED = "skipped"
ERROR = "error"
INCONCLUSIVE = "inconclusive"        # monotheory.claims.rules: neither direction at the adjusted level
NOT_A_TEST = "not a test"            # monotheory.claims.rules: the premise was not measured true
STATUSES = (REPRODUCED, PARTLY, NOT_REPRODUCED, SKIPPED, ERROR, INCONCLUSIVE, NOT_A_TEST)


@dataclasses.dataclass
class Verdict:
    """One claim of the paper, checked.

    ``claim_id`` is the paper claim (``"C7"``; several rows may share one id, e.g. one per criterion, told
    apart by ``label``). ``value`` is the headline number and ``interval`` its (lo, hi) uncertainty
    (a confidence interval, or an exact value repeated); ``measured`` says in words what was measured.
    """

    claim_id: str
    claim: str
    verdict: str
    measured: str = ""
    value: float | None = None
    interval: tuple[float, float] | None = None
    conditions: str = ""
    label: str = ""
    paper_value: str = ""
    details: dict = dataclasses.field(default_factory=dict)
    figures: list = dataclasses.field(default_factory=list)

    def __post_init__(self):
        if self.verdict not in STATUSES:
            raise ValueError(f"verdict = {self.verdict!r} is unknown; choose one of {', '.join(STATUSES)}")

    def to_dict(self) -> dict:
        return to_jsonable(dataclasses.asdict(self))

    def row(self) -> str:
        """A one-line, human-readable form (printed by the check scripts)."""
        name = f"{self.claim_id}{' ' + self.label if self.label else ''}"
        val = "" if self.value is None else f" value={_g(self.value)}"
        ci = "" if self.interval is None else f" [{_g(self.interval[0])}, {_g(self.interval[1])}]"
        return f"{name:<18} {self.verdict.upper():<18}{val}{ci}  {self.measured}"


def _g(x: Any) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        if math.isnan(x):
            return "nan"
        return f"{x:.4g}"
    return str(x)


def skipped(claim_id: str, claim: str, reason: str, **kw: Any) -> Verdict:
    """A row for a check that cannot run here (no data, no GPU), with the reason."""
    return Verdict(claim_id=claim_id, claim=claim, verdict=SKIPPED, conditions=reason, **kw)


# ---------------------------------------------------------------------------------------------- JSON & files


def to_jsonable(obj: Any) -> Any:
    """Turn numpy / torch scalars and arrays, tuples, Paths and dataclasses into plain JSON types.

    Non-finite floats become ``None`` (JSON has no NaN); tensors are moved to CPU first.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if hasattr(obj, "detach"):  # torch tensor, without importing torch
        obj = obj.detach().cpu().numpy()
    if hasattr(obj, "tolist"):  # numpy array or scalar
        return to_jsonable(obj.tolist())
    if hasattr(obj, "__float__"):  # sympy numbers and the like
        return to_jsonable(float(obj))
    return str(obj)


TEMP_SUFFIX = ".tmp"  # every temporary file of this module is ``.<name>.<random>.tmp`` beside its target


def _umask_mode() -> int:
    """0o666 minus the process umask: the mode ``open()`` would give a new file (mkstemp gives 0600)."""
    old = os.umask(0)
    os.umask(old)
    return 0o666 & ~old


def _atomic_write_with(path: str | os.PathLike, write) -> Path:
    """Call ``write(binary_file)`` on a temporary file beside ``path``, then ``os.replace`` it onto ``path``.

    The result gets the permissions the umask gives; the temporary file is removed on any failure
    (Ctrl-C included)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    return _atomic_write_with(path, lambda fh: fh.write(data))


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj)`` to ``path`` atomically (temporary file + ``os.replace``), umask permissions."""
    import torch

    return _atomic_write_with(path, lambda fh: torch.save(obj, fh))


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files an interrupted run left in ``folder`` (recursively); return them.

    Matches this module's ``.<name>.<random>.tmp`` files and the older ``<name>.pt.tmp`` checkpoints. Call it
    at the start of a run, when no other process writes into ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    gone = []
    for p in folder.rglob("*" + TEMP_SUFFIX):
        if p.is_file() and (p.name.startswith(".") or p.name.endswith(".pt" + TEMP_SUFFIX)):
            p.unlink(missing_ok=True)
            gone.append(p)
    return gone


def check_out_dir(path: str | os.PathLike, option: str = "--out", inputs: dict | None = None) -> Path:
    """Refuse, before any work, an output folder that cannot be used; return it as a Path. Writes nothing.

    Refused: an existing file; a path under a file; a folder (or, if it does not exist yet, its nearest existing
    parent) in which no file can be created (read-only, ``/proc``); a folder equal to or inside one of
    ``inputs`` (``{"--data-root": path}``: results must not land among the data)."""
    raw = str(path)
    if not raw.strip():
        raise ConfigError(f"{option} {raw!r} is empty; give a folder to write the results to")
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{option} {raw!r} is an existing file, not a folder")
    probe = p
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"{option} {raw!r} cannot be created: {str(probe)!r} is a file, not a folder")
    try:  # root passes every os.access test, so try for real (and leave nothing behind)
        fd, tmp = tempfile.mkstemp(dir=probe, prefix=".monotheory-write-test.", suffix=TEMP_SUFFIX)
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise ConfigError(f"{option} {raw!r} is not writable ({e.strerror or e} in {str(probe)!r})") from None
    for name, other in (inputs or {}).items():
        if other is None or not str(other):
            continue
        o = Path(other).expanduser().resolve()
        r = p.resolve()
        if r == o or o in r.parents:
            raise ConfigError(f"{option} {raw!r} lies inside {name} {str(other)!r}; write the results elsewhere")
    return p


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` (made JSON-ready by :func:`to_jsonable`) as indented JSON, atomically."""
    return atomic_write_text(path, json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n")


# ------------------------------------------------------------------------------------------- verdict table


def verdicts_markdown(verdicts: list[Verdict], title: str = "monotheory: verdicts on the paper's claims",
                      base: str | os.PathLike | None = None) -> str:
    """The verdict table as Markdown: one row per verdict, then each figure once.

    A relative figure path is taken to be relative to the folder the Markdown file lies in (as
    :func:`relative_figures` stores them) and linked as it is; an absolute one is made relative to ``base`` (that
    folder) when given. The text never depends on the working folder, so ``monotheory verify`` can rebuild it
    from anywhere."""
    lines = [f"# {title}", "",
             "| claim | verdict | measured | value | interval | paper | conditions |",
             "|---|---|---|---|---|---|---|"]
    for v in verdicts:
        name = f"{v.claim_id}{' (' + v.label + ')' if v.label else ''}"
        ci = "" if v.interval is None else f"[{_g(v.interval[0])}, {_g(v.interval[1])}]"
        cells = [name, f"**{v.verdict}**", v.measured, _g(v.value) if v.value is not None else "", ci,
                 v.paper_value, v.conditions]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    counts = {s: sum(v.verdict == s for v in verdicts) for s in STATUSES}
    lines += ["", "Totals: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n), ""]
    figs = list(dict.fromkeys((v.claim_id, _link(f, base)) for v in verdicts for f in v.figures))
    if figs:
        lines += ["## Figures", ""] + [f"- {cid}: ![{Path(f).name}]({f})" for cid, f in figs] + [""]
    lines.append("Claims are numbered as in the project's paper summary (C1–C11). Each row is what the software "
                 "measured on this machine; `skipped` rows name what they need.")
    return "\n".join(lines) + "\n"


def _link(path: str, base) -> str:
    if base is None or not Path(path).is_absolute():
        return Path(path).as_posix()
    try:
        return Path(os.path.relpath(path, Path(base).absolute())).as_posix()
    except ValueError:  # another drive (Windows)
        return str(path)


def relative_figures(verdicts: list[Verdict], out_dir: str | os.PathLike) -> list[Verdict]:
    """Copies of ``verdicts`` whose figure paths are relative to ``out_dir`` (POSIX), for the result files.

    A check names its figures as it saved them: absolute, or relative to the working folder of the run (e.g.
    ``results/figures/c06.png`` for ``--out results``); stored relative to the results folder they stay right
    when the folder is moved or read from another working folder."""
    base = Path(out_dir).absolute()
    fixed = []
    for v in verdicts:
        figs = []
        for f in v.figures:
            try:
                figs.append(Path(os.path.relpath(Path(f).absolute(), base)).as_posix())
            except ValueError:  # another drive (Windows)
                figs.append(str(f))
        fixed.append(dataclasses.replace(v, figures=figs))
    return fixed


def write_verdicts(verdicts: list[Verdict], out_dir: str | os.PathLike, meta: dict | None = None) -> tuple[Path, Path]:
    """Write ``verdicts.json`` and ``verdicts.md`` into ``out_dir``; return both paths."""
    out_dir = Path(out_dir)
    j = atomic_write_json(out_dir / "verdicts.json",
                          {"meta": meta or {}, "verdicts": [v.to_dict() for v in verdicts]})
    m = atomic_write_text(out_dir / "verdicts.md", verdicts_markdown(verdicts, base=out_dir))
    return j, m


# ----------------------------------------------------------------------------------------------- manifest

MANIFEST = "manifest.json"


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest_files(out_dir: str | os.PathLike, exclude: tuple[str, ...] = ()) -> list[str]:
    """The result files of ``out_dir`` a manifest covers: every file (POSIX paths relative to ``out_dir``,
    sorted) except the manifest itself, temporary files and anything under the top-level names ``exclude``."""
    out_dir = Path(out_dir)
    rels = []
    for p in out_dir.rglob("*"):
        rel = p.relative_to(out_dir).as_posix()
        if not p.is_file() or rel == MANIFEST or p.name.endswith(TEMP_SUFFIX) or rel.split("/")[0] in exclude:
            continue
        rels.append(rel)
    return sorted(rels)


def write_manifest(out_dir: str | os.PathLike, exclude: tuple[str, ...] = ()) -> Path:
    """Write ``out_dir/manifest.json``: the SHA-256 and size of every result file (see :func:`manifest_files`).

    Written last by every run, so ``monotheory verify`` can tell an edited, missing or added file."""
    out_dir = Path(out_dir)
    files = {rel: {"sha256": sha256_file(out_dir / rel), "bytes": (out_dir / rel).stat().st_size}
             for rel in manifest_files(out_dir, exclude)}
    return atomic_write_json(out_dir / MANIFEST, {"algorithm": "sha256", "exclude": list(exclude), "files": files})
