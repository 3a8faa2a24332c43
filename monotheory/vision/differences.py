"""Where ``--preset paper`` differs from the authors' code, and the page that says so (``docs/differences.md``).

The authors' settings are recorded in ``monotheory/data/authors_settings.json``; :mod:`monotheory.vision.presets`
builds the paper preset from them and :func:`~monotheory.vision.authors.compare` sets their value beside the
resolved config's for every entry. :data:`DIFFERENCES` names every entry where the two differ, with what
monotheory does and why; :data:`WHY` says why an option's default is not the authors' value (the paper preset
sets theirs). ``tests/vision/test_paper_preset.py`` fails when an entry differs without a row, when a row names
an entry that does not differ, and when the page is not :func:`page` (regenerate it with
``python -m monotheory.vision.differences > docs/differences.md``). Imports no torch.
"""

from __future__ import annotations

import dataclasses

from monotheory.vision import authors as P
from monotheory.vision.config import RunConfig
from monotheory.vision.presets import build_config

# the data sets the authors' settings record covers (monotheory/data/authors_settings.json)
RECORDED_DATASETS = ("imagenet100", "cifar100")


@dataclasses.dataclass(frozen=True)
class Difference:
    what: str
    entries: tuple[str, ...]  # ids of record entries (authors_settings.json)
    option: str | None  # the RunConfig option that gives their value, if any
    ours: str
    why: str


def _ids(stages, key, datasets=RECORDED_DATASETS) -> tuple[str, ...]:
    ids = {e["id"] for e in P.authors_settings()["settings"]}
    return tuple(i for d in datasets for s in stages if (i := f"{d}/{s}/{key}") in ids)


DIFFERENCES = (
    Difference("Data loading, ImageNet-100", _ids(P.ALL4, "data.format", ("imagenet100",)), "loader",
               "torchvision (PIL, per image)",
               "DALI is an optional extra that needs an NVIDIA GPU; `--loader dali` reads pretraining, the two-crop "
               "SAE and feature extraction with DALI as theirs (fine-tuning reads with torchvision either way)"),
    Difference("Mixed precision", tuple(i for i in _ids(P.ALL4, "precision") if i != "imagenet100/sae/precision"), None,
               "bf16 autocast on CUDA (pretraining, fine-tuning, feature extraction); SAE and probes in fp32",
               "bf16 needs no loss scaling; not an option"),
    Difference("Online label classifier during pretraining",
               ("all/pretrain/code.online_classifier", *_ids(P.PT, "optimizer.classifier_lr")), None, "none",
               "its cross-entropy reaches the encoder (no `.detach()`), so their \"self-supervised\" features see "
               "labels; not an option"),
    Difference("Probe training images", ("all/linear/code.train_images",), None,
               "cached features of un-augmented training images",
               "one feature extraction instead of one per epoch; not an option"),
    Difference("Random draws of the linear evaluation and the few-shot split",
               ("all/linear/code.seed", "all/finetune/code.few_shot_split"), None,
               "every draw from a named stream under `--seed` (monotheory.seeding)",
               "their label noise and probe initialisation are unseeded, the few-shot split is scikit-learn's with "
               "random_state 42; no seed here reproduces their draws; not an option"),
    Difference("Gaussian blur kernel at 32 px, CIFAR-100",
               ("cifar100/augment/code.blur_kernel",), None,
               "a Gaussian window of 13 px (±3σ of the largest σ = 2), torchvision's or kornia's, p = 0.5 as theirs",
               "their CIFAR-100 pipeline blurs with PIL's radius-σ Gaussian (a box-filter approximation without a "
               "window), which has no tensor equivalent; the 13-px window holds the whole Gaussian; not an option"),
    Difference("Normalisation of the CIFAR-100 linear evaluation", ("cifar100/linear/code.normalization",), None,
               "CIFAR-100's mean and sd, as in pretraining",
               "their linear pipeline normalises with CIFAR-10's statistics, their pretraining with CIFAR-100's; we "
               "keep the input distribution the encoder was trained on; not an option"),
    Difference("Backbone of the SAE column at probe time", ("all/linear/code.sae_probe_backbone",), None,
               "the CL encoder (BatchNorm statistics of pretraining)",
               "their SAE checkpoint carries a backbone whose BatchNorm running statistics moved during train-mode "
               "SAE training, and their SAE probes use it; ours encode the CL column's features, so the two "
               "columns differ by the SAE only; not an option"),
    Difference("Checkpoints the probes and the SAE start from",
               _ids(P.LI, "pretrained_feature_extractor") + _ids(P.SA, "resume_from_checkpoint"), None,
               "this run's CL and NCL encoders; the SAE is trained on this run's CL encoder",
               "their scripts hold placeholder paths"),
    Difference("Encoder the NCE fine-tuning runs start from", _ids(P.FT, "pretrained_feature_extractor"),
               "finetune.nce_encoder", "`cl` in the preset: the CE runs' encoder, so only the head differs",
               "their base_* and ncl_* fine-tuning scripts both give a placeholder path; if their ncl_* runs "
               "started from the NCL encoder, `--ft-nce-encoder ncl` gives that"),
    Difference("Fine-tuning on CIFAR-100", ("cifar100/finetune/code.configs",), None,
               "the ImageNet-100 recipe", "their repository has fine-tuning configs for ImageNet-100 only"),
)

# why an option's default is not the authors' value (the paper preset sets theirs)
WHY = {
    "sae.probe_input": "their linear eval encodes the un-normalised projector output although the SAE was trained "
                       "on L2-normalised z; we encode what it was trained on",
    "sae.train_data": "we train on cached features of un-augmented images, the distribution the probe sees, "
                      "without an encoder pass per SAE epoch",
    "sae.backbone_mode": "they leave the frozen backbone in train mode (BatchNorm batch statistics of each view, "
                         "running statistics updated); we use the running statistics the probes see",
    "sae.batch_size": "their SAE ran on 2 GPUs × 128 images with synchronised BatchNorm (256 per step); 128 is "
                      "the paper's number",
    "sae.init": "they keep torch's default `nn.Linear` init; we start from unit-norm decoder columns and "
                "encoder = decoderᵀ (Gao et al. 2024: fewer dead latents)",
    "sae.pre_bias_init": "they start it at 0; we at the training mean (a stand-in for the geometric median)",
    "sae.normalize_decoder": "they have none; the usual top-k SAE constraint keeps the code scale from drifting "
                             "into the decoder",
    "sae.decoder_lr": "their decoder is its own parameter group at lr 0.3 (3000 × the base 1e-4)",
    "sae.schedule": "solo-learn's warmup_cosine (10 epochs from 3e-5, every group); we keep the lr constant",
    "probe.schedule": "their ImageNet-100 configs decay ×0.1 at epochs 60 and 80 of a 50-epoch run, i.e. a "
                      "constant lr; we decay to 0 with a cosine (under 90 % label noise the schedule can decide "
                      "the outcome)",
    "probe.uniform_noise": "their linear configs also score X + 0.2·U[0, 1); off by default (the paper reports "
                           "Gaussian input noise)",
    "pretrain.mass_alpha": "their NCL loss adds −mean|z| of the L2-normalised output with weight 1, which the "
                           "paper does not describe",
    "pretrain.clip_lr": "their configs set `clip_lr: True`; solo-learn's default is False",
    "pretrain.warmup_start_lr": "their warmup starts at 3e-5 (pl_bolts' LinearWarmupCosineAnnealingLR); ours "
                                "ramps from lr / warmup steps; negligible after the first steps",
    "seed": "their ImageNet-100 pretraining and SAE set 3, their CIFAR-100 ones none (solo-learn's 10); no seed "
            "here reproduces a draw of theirs",
    "stem_padding": "their CIFAR stem pads its 3×3 stride-1 conv by 2 (34 × 34 maps from 32 × 32 images); 1 "
                    "keeps the size",
}


def _src(entry: dict) -> str:
    more = f" (+{len(entry['files']) - 1} files)" if len(entry["files"]) > 1 else ""
    return f"`{entry['files'][0]}`{more}: `{entry['key']}`"


def _fmt(v) -> str:
    if isinstance(v, (tuple, list)):
        return "(" + ", ".join(str(x) for x in v) + ")"
    return f"`{v}`" if not isinstance(v, str) or len(v) < 30 else v


def theirs_cell(ids: tuple[str, ...]) -> str:
    by_id = {e["id"]: e for e in P.authors_settings()["settings"]}
    return "; ".join(f"{_fmt(by_id[i]['value'])} in {_src(by_id[i])}" for i in ids)


def differences_markdown() -> str:
    lines = ["| what | option | their value (file: key) | ours | why |", "|---|---|---|---|---|"]
    for d in DIFFERENCES:
        opt = f"`{d.option}`" if d.option else "—"
        lines.append(f"| {d.what} | {opt} | {theirs_cell(d.entries)} | {d.ours} | {d.why} |")
    return "\n".join(lines)


def _is_default(value, default) -> bool:
    return value in default if isinstance(default, tuple) else value == default


def preset_options() -> dict[str, dict]:
    """Every option the paper preset sets from the record: {target: {default, imagenet100, cifar100, source}}
    (the values of the resolved presets; ``source``: an entry that sets it, one with a non-default value first)."""
    default, out = RunConfig(), {}
    cfgs = {ds: build_config("paper", ds) for ds in RECORDED_DATASETS}
    for cfg in cfgs.values():
        for c in P.compare(cfg):
            target = c.rule.target_of(c.entry) if c.rule.kind in ("set", "grid") else None
            if target is None:
                continue
            row = out.setdefault(target, {"default": P.lookup(default, target), "source": c.entry,
                                          **{d: P.lookup(x, target) for d, x in cfgs.items()}})
            if _is_default(row["source"]["value"], row["default"]) and not _is_default(c.entry["value"], row["default"]):
                row["source"] = c.entry
    return out


def defaults_markdown() -> str:
    lines = ["| option | default | paper, ImageNet-100 | paper, CIFAR-100 | their source (file: key) | why the "
             "default differs |", "|---|---|---|---|---|---|"]
    for target, r in sorted(preset_options().items()):
        if r["default"] == r["imagenet100"] == r["cifar100"]:
            continue
        why = WHY.get(target, "the CIFAR-100 recipe" if r["default"] == r["imagenet100"] else "")
        cells = [_fmt(r["default"]), _fmt(r["imagenet100"]), _fmt(r["cifar100"])]
        lines.append(f"| `{target}` | " + " | ".join(cells) + f" | {_src(r['source'])} | {why} |")
    return "\n".join(lines)


def not_recipe_markdown() -> str:
    lines = ["| key | stages | kind | why |", "|---|---|---|---|"]
    for r in P.RULES:
        if r.kind in ("env", "unused"):
            lines.append(f"| `{r.key}` | {', '.join(r.stages)} | {r.kind} | {r.note} |")
    return "\n".join(lines)


def comparison_lines(cfg: RunConfig) -> list[str]:
    """``--print-config``'s account: every option set from the record (its value now, theirs, where theirs was
    read), then every entry that differs, with the row of the differences table that names it."""
    if cfg.preset != "paper":
        return [f"# preset {cfg.preset}: sized for a CPU, not compared with the authors' settings (see --preset paper)"]
    named = {i: d.what for d in DIFFERENCES for i in d.entries}
    src = P.authors_settings()["source"]
    cs = P.compare(cfg)
    out = [f"# the authors' settings (monotheory/{P.RECORD}; {src['repository']}@{src['commit'][:7]}) for "
           f"{P.record_dataset(cfg.dataset)} — option: value now =/≠ theirs (file: key = value there)"]
    by_target: dict[str, list] = {}
    for c in cs:
        if c.rule.kind in ("set", "grid") and c.rule.target_of(c.entry):
            by_target.setdefault(c.rule.target_of(c.entry), []).append(c)
    for target, group in by_target.items():
        c = group[0]
        if c.rule.kind == "grid":
            theirs = "{" + ", ".join(f"{t:g}" for t in sorted({g.theirs for g in group})) + "}"
            mark = "⊇" if all(g.same for g in group) else "⊉"
        else:
            theirs, mark = repr(c.theirs), "=" if all(g.same for g in group) else "≠"
        where = f"{c.entry['files'][0]}: {c.entry['key']} = {c.entry['value']!r}" + (
            f" (+{len(group) - 1})" if len(group) > 1 else "")
        now = P.lookup(cfg, target)
        effect = f" (in effect: {c.ours!r})" if type(c.ours) is type(now) and c.ours != now else ""
        out.append(f"# {target}: {now!r}{effect} {mark} theirs {theirs} ({where})")
    for c in cs:
        if not c.same:
            why = f"named: {named[c.entry['id']]}" if c.entry["id"] in named else "NOT NAMED in docs/differences.md"
            out.append(f"# ≠ {c.entry['id']}: now {c.ours!r} | theirs {c.theirs!r}  ({why})")
    n_diff = sum(not c.same for c in cs)
    out.append(f"# {len(cs)} settings compared: {len(cs) - n_diff} as theirs, {n_diff} differ (docs/differences.md)")
    return out


SHIFT = """\
## The distribution-shift sets of Figure 2 (`--shift`)

Figure 2 of the paper evaluates the probes on shifted versions of ImageNet-100 (sketch and stylised images).
They are not downloaded by monotheory: give each as a folder with the **same class folders as `val/`** (the 100
WordNet ids of `monotheory/data/imagenet100_classes.txt`), one `--shift NAME=DIR` per set:

```text
/data/in100-sketch/            /data/in100-stylized/
├── n01558993/                 ├── n01558993/
│   ├── sketch_0.JPEG          │   └── ...
│   └── ...                    └── ...
└── ... (100 class folders)
```

<!-- doc-test: skip (needs ImageNet-100 and the shift sets) -->
```bash
monotheory run-imagenet --data-root /data/imagenet100 --out results/in100 \\
    --shift sketch=/data/in100-sketch --shift stylized=/data/in100-stylized
```

The `shift` stage scores the clean-label probes of every method on each set (and on the seeded corruptions of
`--shift-corruptions` / `--shift-severities`); a set whose class folders do not match `val/` is refused with one
line before any work starts.
"""


def page() -> str:
    """The whole of ``docs/differences.md``."""
    return "\n".join([
        "# Differences from the authors' code",
        "",
        "`--preset paper` is built from the authors' settings (PKU-ML/Beyond_Interpretability, a fork of "
        "solo-learn), recorded one entry per setting, with its file and key, in "
        "[`monotheory/data/authors_settings.json`](../monotheory/data/authors_settings.json). "
        "`tests/vision/test_paper_preset.py` compares the resolved presets (ImageNet-100 and CIFAR-100) with every "
        "entry: a value that differs must be a row of the first table, and a row must name only entries that "
        "differ. See them resolved with `monotheory run-imagenet --preset paper [--dataset cifar100] "
        "--print-config`. This page is generated: `python -m monotheory.vision.differences > docs/differences.md`.",
        "",
        "## Where the paper preset differs from the authors' code",
        "",
        differences_markdown(),
        "",
        "## Options whose default is not the authors' value (the paper preset sets theirs)",
        "",
        defaults_markdown(),
        "",
        "## Their settings that are not part of the recipe",
        "",
        not_recipe_markdown(),
        "",
        SHIFT,
    ])


if __name__ == "__main__":
    print(page(), end="")
