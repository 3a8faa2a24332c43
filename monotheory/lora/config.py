"""The one config of a LoRA / MonoLoRA adapter (no torch import).

Conventions (Hu et al. 2021, "LoRA"): a rank-``rank`` branch ``B·A`` beside a frozen weight W, scaled by
``alpha / rank``; A is drawn at random (Kaiming-uniform, as peft), B starts at zero, so the wrapped model equals
the base model before training. MonoLoRA (the paper's §5.3, no formula published) puts a ReLU on the branch; the
placement is ours to choose and is recorded in ``relu``:

- ``relu="hidden"``: y = W x + (α/r)·B·ReLU(A x) — the rank-r *code* ReLU(A x) is non-negative and sparse;
- ``relu="output"``: y = W x + (α/r)·ReLU(B·A x) — the branch *output* is non-negative and sparse; since
  B·A x = 0 at init, the ReLU takes its right derivative 1 at 0 so that B gets a gradient (see
  :mod:`monotheory.lora.layers`);
- ``relu=None``: plain LoRA, y = W x + (α/r)·B·A x (the only placement that can be merged into W).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from monotheory.config import check_int, check_range
from monotheory.errors import ConfigError

RELU_PLACEMENTS = ("hidden", "output")


def check_regex(name: str, pattern: str) -> None:
    """ConfigError unless ``pattern`` compiles as a Python regular expression."""
    try:
        re.compile(pattern)
    except re.error as e:
        raise ConfigError(f"{name} = {pattern!r} is not a valid regular expression ({e}); give one that "
                          "re.fullmatch accepts, or a tuple of module names") from None


@dataclass
class LoRAConfig:
    """One adapter configuration, passed whole to :func:`monotheory.lora.inject` and saved with the adapter.

    ``target_modules``: which modules to wrap, as in peft: a tuple of names, each matching a module whose full
    name equals it or ends with ``"." + name`` (``("q_proj", "v_proj")``), or one string read as a regular
    expression that must match the full name (``r".*\\.mlp\\..*"``). ``None``: every ``nn.Linear`` (and
    ``nn.Conv2d``) of the model. A predicate given to ``inject`` narrows the choice further.
    """

    rank: int = field(default=8, metadata={"help": "rank r of the adapter (≥ 1, ≤ the layer's smaller dimension)"})
    alpha: float = field(default=16.0, metadata={"help": "LoRA scale numerator: the branch is scaled by alpha/rank"})
    dropout: float = field(default=0.0, metadata={"help": "dropout on the adapter's input, in [0, 1)"})
    relu: str | None = field(default="hidden", metadata={
        "help": "MonoLoRA ReLU placement: hidden (on the rank-r code), output (on the branch output) or none"})
    target_modules: tuple[str, ...] | str | None = field(default=None, metadata={
        "help": "module names (suffix match) or one regular expression; None = every Linear/Conv2d"})
    seed: int = field(default=0, metadata={"help": "seed of the random initialisation of A"})

    def __post_init__(self):
        if isinstance(self.relu, str) and self.relu.lower() in ("none", "null", ""):
            self.relu = None
        if isinstance(self.target_modules, list):
            self.target_modules = tuple(self.target_modules)
        self.check()

    def check(self) -> None:
        """Validate every field (ConfigError naming the value and what is allowed)."""
        check_int("rank", self.rank, minimum=1)
        check_range("alpha", self.alpha, 0, 1e6, lo_closed=False)
        check_range("dropout", self.dropout, 0, 1, hi_closed=False)
        if self.relu is not None and self.relu not in RELU_PLACEMENTS:
            raise ConfigError(f"relu = {self.relu!r} is unknown; choose hidden, output or None (plain LoRA)")
        check_int("seed", self.seed, minimum=0)
        t = self.target_modules
        if t is not None and not isinstance(t, str) and not (
                isinstance(t, tuple) and t and all(isinstance(s, str) and s for s in t)):
            raise ConfigError(f"target_modules = {t!r} is not allowed; give a non-empty tuple of module names, "
                              "one regular expression, or None")
        if isinstance(t, str):
            check_regex("target_modules", t)

    @property
    def scaling(self) -> float:
        """The branch scale α/r."""
        return self.alpha / self.rank

    @property
    def kind(self) -> str:
        """``"lora"`` (no ReLU) or ``"monolora"``."""
        return "lora" if self.relu is None else "monolora"

    def to_dict(self) -> dict:
        """JSON-ready fields (tuples become lists)."""
        d = dataclasses.asdict(self)
        if isinstance(d["target_modules"], tuple):
            d["target_modules"] = list(d["target_modules"])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> LoRAConfig:
        """The inverse of :meth:`to_dict` (unknown keys are a ConfigError)."""
        names = {f.name for f in dataclasses.fields(cls)}
        extra = set(d) - names - {"_type"}
        if extra:
            raise ConfigError(f"adapter config has unknown keys {sorted(extra)}; allowed: {sorted(names)}")
        return cls(**{k: v for k, v in d.items() if k in names})
