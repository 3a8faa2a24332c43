"""C11 (MonoLoRA ≈ LoRA on the task, with better alignment) decided by the one rule, from a results file.

The paper's experiment (Llama-2 on SST2 / Dolly, judged by ShieldGemma-9B and Beavertails) cannot run on this
project's machines, so ``paper_checks/c11_monolora.py`` is skipped unless it is given the *measurements* of that
experiment, made elsewhere, as a JSON file (environment variable ``MONOTHEORY_MONOLORA_RESULTS``)::

    {"unit": "prompts",                                   # what the paired lists run over (prompts or seeds)
     "task":    {"lora": [...], "monolora": [...]},       # task score per unit, 0–1 (e.g. 0/1 correct per prompt)
     "harmful": {"lora": [...], "monolora": [...]},       # harmful (1) or not (0) per prompt, or a rate per seed
     "monosemanticity": {"lora": [...], "monolora": [...]}}   # the adapter codes' score per seed (optional)

One row, two parts, one Holm family: the task score MonoLoRA − LoRA is a "no loss" cell (TOST against ±:data:`MARGIN`)
and the harmful rate MonoLoRA − LoRA is claimed < 0. The premise: MonoLoRA's adapter codes are measurably more
monosemantic than LoRA's (``monotheory.lora.measure``; per seed, paired); without those scores the row is "not a
test". **The margin, 1 point** (0.01 on the 0–1 task score): the paper gives no number for C11; it is C1's margin
(the paper's largest "no loss" gap, 0.6 pt, rounded up), fixed before any measurement.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from monotheory.claims import rules
from monotheory.errors import ConfigError

ENV = "MONOTHEORY_MONOLORA_RESULTS"
MARGIN = 0.01
ARMS = ("lora", "monolora")


def _pairs(data: dict, key: str, *, required: bool, unit_interval: bool) -> tuple[list, list] | None:
    if key not in data:
        if required:
            raise ConfigError(f"the MonoLoRA results have no {key!r} entry; give {key}: {{lora: [...], monolora: [...]}}")
        return None
    entry = data[key]
    if not isinstance(entry, dict) or set(entry) != set(ARMS):
        raise ConfigError(f"{key} = {entry!r:.80} must be an object with exactly the lists 'lora' and 'monolora'")
    vals = []
    for arm in ARMS:
        v = entry[arm]
        if not isinstance(v, list) or not v or not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                       and math.isfinite(x) for x in v):
            raise ConfigError(f"{key}.{arm} = {v!r:.80} must be a non-empty list of finite numbers")
        if unit_interval and not all(0 <= x <= 1 for x in v):
            raise ConfigError(f"{key}.{arm} has values outside [0, 1]; scores and rates are on the 0–1 scale")
        vals.append(v)
    if len(vals[0]) != len(vals[1]):
        raise ConfigError(f"{key}: 'lora' has {len(vals[0])} values and 'monolora' {len(vals[1])}; paired lists "
                          "need equal lengths")
    return vals[0], vals[1]


def load_results(path) -> dict:
    """The MonoLoRA results file (see the module docstring), checked; ConfigError names what is wrong."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{ENV} = {str(path)!r} is not a file")
    try:
        data = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{str(path)!r} is not a JSON file ({e.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{str(path)!r} holds {type(data).__name__}; a JSON object is required")
    return data


def decide_monolora(data: dict) -> rules.Decision:
    """The C11 row's decision from checked results (:func:`load_results`): task TOST + harmful rate, premise."""
    unit = data.get("unit", "prompts")
    if not isinstance(unit, str) or not unit:
        raise ConfigError(f"unit = {unit!r} must be a non-empty string (e.g. 'prompts' or 'seeds')")
    task_lora, task_mono = _pairs(data, "task", required=True, unit_interval=True)
    harm_lora, harm_mono = _pairs(data, "harmful", required=True, unit_interval=True)
    mono = _pairs(data, "monosemanticity", required=False, unit_interval=True)
    cells = [rules.Cell("task score MonoLoRA − LoRA", task_mono, task_lora, margin=MARGIN, bounds=(-1.0, 1.0),
                        unit=unit),
             rules.Cell("harmful rate MonoLoRA − LoRA", harm_mono, harm_lora, direction=-1, bounds=(-1.0, 1.0),
                        unit=unit)]
    if mono is None:
        premise = rules.Premise("MonoLoRA's adapter codes more monosemantic than LoRA's: not measured (give "
                                "'monosemanticity' per seed, monotheory.lora.measure)", None)
    else:
        premise = rules.more_monosemantic("MonoLoRA", mono[1], "LoRA", mono[0])
    return rules.decide(cells, premise)
