"""Where monotheory's defaults differ from the authors' code (PKU-ML/Beyond_Interpretability, a solo-learn fork).

:data:`DIFFERENCES` is the one source of the README table "Differences from the authors' code" and of the
test that ``--preset paper`` resolves every optional difference to the authors' value: a row with a ``key``
(a dotted :class:`~monotheory.vision.config.RunConfig` path) is an option, ``theirs`` is what the paper
preset sets and ``ours`` the dataclass default; a row with ``key=None`` is a difference that is not an
option (the reason says why). Sources: ``solo/methods/simclr.py`` (SAE and NCL), ``solo/methods/linear.py``
(linear evaluation), ``solo/utils/lars.py``, ``scripts/{pretrain,sparse,linear,finetuning}/imagenet-100/*.yaml``.
Imports no torch.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Difference:
    what: str
    key: str | None
    theirs: object
    ours: object
    why: str


DIFFERENCES = (
    Difference("SAE input at probe time", "sae.probe_input", "raw", "normalized",
               "their linear eval encodes the un-normalised projector output (`z = feats; z = z - pre_bias`) "
               "although the SAE was trained on L2-normalised z; we encode what it was trained on"),
    Difference("SAE training inputs", "sae.train_data", "two_crop", "clean",
               "they train the SAE through the two-crop SimCLR pipeline (frozen encoder, new views every epoch); "
               "we use the cached features of un-augmented images, the distribution the probe sees, and no "
               "encoder pass per SAE epoch"),
    Difference("SAE initialisation", "sae.init", "default", "transpose",
               "they keep torch's default `nn.Linear` init (encoder and decoder independent, zero latent bias); "
               "we start from unit-norm decoder columns and encoder = decoderᵀ (Gao et al. 2024: fewer dead "
               "latents)"),
    Difference("SAE pre-encoder bias at the start", "sae.pre_bias_init", "zero", "mean",
               "they start it at 0; we at the training mean (a stand-in for the geometric median)"),
    Difference("SAE decoder-column normalisation", "sae.normalize_decoder", False, True,
               "they have none; we renormalise after every step, the usual top-k SAE constraint that keeps the "
               "code scale from drifting into the decoder"),
    Difference("SAE decoder learning rate", "sae.decoder_lr", 0.3, 0.0,
               "their decoder is its own Adam parameter group at lr 0.3 (3000 × the base 1e-4); 0 = one lr for "
               "all parameters"),
    Difference("SAE lr schedule", "sae.schedule", "warmup_cosine", "constant",
               "their sparse config uses solo-learn's warmup_cosine (10 epochs from 3e-5, every group); we keep "
               "Adam's lr constant"),
    Difference("Probe lr schedule", "probe.schedule", "step", "cosine",
               "their linear configs decay ×0.1 at epochs 60 and 80 of a 50-epoch run, i.e. a constant lr 1.5; "
               "we decay to 0 with a cosine (under 90 % label noise the schedule can decide the outcome)"),
    Difference("Probe step-decay epochs", "probe.decay_epochs", (60, 80), (60, 80),
               "same values; used only by the step schedule"),
    Difference("NCL activation-mass term weight", "pretrain.mass_alpha", 1.0, 0.0,
               "their NCL loss adds −mean|z| of the L2-normalised output with weight 1, which the paper does not "
               "describe; off unless asked"),
    Difference("LARS: cap the adaptive lr at the base lr", "pretrain.clip_lr", True, False,
               "their pretraining configs set `clip_lr: True`; solo-learn's default is False"),
    Difference("LARS trust coefficient", "pretrain.trust_coefficient", 0.02, 0.02, "same value (their configs)"),
    Difference("Fine-tuning schedule", "finetune.schedule", "step", "step",
               "same: SGD lr 1.5 at batch 256, ×0.1 at epochs 60/80, 50 epochs (100 few-shot), backbone "
               "trained, projector frozen, RandomResizedCrop + flip"),
    Difference("Fine-tuning lr (batch 256)", "finetune.lr", 1.5, 1.5, "same value"),
    Difference("Online label classifier during pretraining", None, "yes (no `.detach()`: labels reach the "
               "encoder)", "none",
               "self-supervised features must not see labels; not an option"),
    Difference("Probe training images", None, "re-augmented every epoch (RandomResizedCrop + flip)",
               "cached features of un-augmented images",
               "one feature extraction instead of one per epoch; not an option"),
    Difference("Pretraining warmup start lr", None, "3e-5", "lr × 1/warmup steps",
               "negligible after the first steps; not an option"),
    Difference("Mixed precision", None, "fp16 (Lightning `precision: 16`)", "bf16 autocast on CUDA",
               "bf16 needs no loss scaling; not an option"),
)


def lookup(cfg, dotted: str):
    """The value at ``dotted`` (e.g. ``"sae.init"``) of a config dataclass."""
    for part in dotted.split("."):
        cfg = getattr(cfg, part)
    return cfg


def _fmt(v) -> str:
    if isinstance(v, tuple):
        return "(" + ", ".join(str(x) for x in v) + ")"
    return f"`{v}`" if not isinstance(v, str) or " " not in v else v


def differences_markdown() -> str:
    """The README table: what, option, their value, ours, why."""
    lines = ["| what | option | their value | ours | why |", "|---|---|---|---|---|"]
    for d in DIFFERENCES:
        opt = f"`{d.key}`" if d.key else "—"
        lines.append(f"| {d.what} | {opt} | {_fmt(d.theirs)} | {_fmt(d.ours)} | {d.why} |")
    return "\n".join(lines)


def paper_overrides() -> dict[str, object]:
    """``{dotted key: their value}`` of every optional row."""
    return {d.key: d.theirs for d in DIFFERENCES if d.key}
