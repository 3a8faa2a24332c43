"""The config of fine-tuning an encoder with a CE or NCE head (:class:`FinetuneConfig`): one run of
:func:`monotheory.vision.finetune.finetune` and the plan of the ``finetune`` stage. Imports no torch; re-exported by
:mod:`monotheory.vision.config`, which nests it in the run's config."""

from __future__ import annotations

import dataclasses

from monotheory.config import check_choice, check_int, check_nonnegative, check_probability, check_range
from monotheory.noise import LABEL_NOISE_MODELS, SAMPLING_MODES


def _f(default, help_, **kw):
    return dataclasses.field(default=default, metadata={"help": help_, **kw})


# the fields of FinetuneConfig that the finetune stage sets per run (not run-imagenet options)
FINETUNE_RUN_FIELDS = ("head", "few_shot_fraction", "noise_rate", "noise_model", "noise_sampling", "seed",
                       "num_workers", "amp")
FINETUNE_OPTIMISATION_FIELDS = ("epochs", "lr", "batch_size", "weight_decay", "momentum", "schedule", "decay_epochs")
FINETUNE_HEADS = ("ce", "nce")
FINETUNE_SCHEDULES = ("cosine", "step")


@dataclasses.dataclass
class FinetuneConfig:
    """Fine-tuning of an encoder with a CE or NCE head: the one config of that model, for one run
    (:func:`monotheory.vision.finetune.finetune`: ``head``, ``few_shot_fraction``, ``noise_rate`` …) and for the
    ``finetune`` stage's plan (``heads`` × ``fractions`` and ``noise_rates``; the stage sets the per-run fields,
    :data:`FINETUNE_RUN_FIELDS`, which are no ``run-imagenet`` options). Defaults = the authors' IN-100 configs
    (``scripts/finetuning/imagenet-100/*.yaml``; they have none for CIFAR-100): SGD, lr 1.5 at batch 256, wd 0,
    ×0.1 at epochs 60/80, 50 epochs (100 few-shot), backbone trained, projector frozen, RandomResizedCrop + flip.
    """

    # the stage's plan
    heads: tuple[str, ...] = _f(("ce", "nce"), "heads to compare: ce (plain) and nce (ReLU before the classifier)")
    fractions: tuple[float, ...] = _f((0.1, 0.2, 0.5, 1.0), "few-shot shares of the training set (clean labels)")
    noise_rates: tuple[float, ...] = _f((0.9,), "label-noise rates of the full-data runs")
    few_shot_epochs: int = _f(100, "epochs of the few-shot runs (fraction < 1; 0 = same as epochs)")
    scale_lr: bool = _f(True, "use lr × batch_size / 256 (solo-learn)")
    augment: bool = _f(True, "RandomResizedCrop + flip on the training images (else the evaluation transform)")
    nce_encoder: str = _f("cl", "encoder the NCE runs start from: cl (the CE runs' encoder, so only the head differs) "
                          "or ncl (their scripts give a placeholder path)", choices=("cl", "ncl"))
    # the optimisation (every run)
    epochs: int = _f(50, "fine-tuning epochs (full training set)")
    lr: float = _f(1.5, "SGD base learning rate (scaled by batch/256 unless --no-ft-scale-lr)")
    batch_size: int = _f(256, "batch size of each fine-tuning run (under torchrun the runs are spread over the "
                         "processes, one run per process at a time)")
    weight_decay: float = _f(0.0, "weight decay")
    momentum: float = _f(0.9, "SGD momentum")
    schedule: str = _f("step", "lr schedule: step (×0.1 at decay_epochs) or cosine (to 0)", choices=FINETUNE_SCHEDULES)
    decay_epochs: tuple[int, ...] = _f((60, 80), "epochs of the step schedule's ×0.1 decays")
    # one run (set by the stage)
    head: str = _f("ce", "classifier head: ce (linear on the features) or nce (ReLU on the features first)")
    few_shot_fraction: float = _f(1.0, "stratified share of the training set used, in (0, 1]")
    noise_rate: float = _f(0.0, "label-noise rate η on the training labels, in [0, 1]")
    noise_model: str = _f("flip", "label-noise model: flip (to another class) or uniform (any class)")
    noise_sampling: str = _f("exact", "exact (round(η·N) samples) or bernoulli (each with probability η)")
    seed: int = _f(0, "seed for the few-shot split, the label noise, the classifier init and the shuffling")
    num_workers: int = _f(0, "DataLoader worker processes")
    amp: bool = _f(False, "bf16 autocast on CUDA")

    def __post_init__(self):
        self.heads, self.fractions = tuple(self.heads), tuple(map(float, self.fractions))
        self.noise_rates, self.decay_epochs = tuple(map(float, self.noise_rates)), tuple(map(int, self.decay_epochs))
        self.check()

    def check(self):
        check_int("finetune few_shot_epochs", self.few_shot_epochs, 0)
        check_choice("finetune nce_encoder", self.nce_encoder, ("cl", "ncl"))
        for h in self.heads:
            check_choice("finetune head", h, FINETUNE_HEADS)
        for f in self.fractions:
            check_range("few-shot fraction", f, 0, 1, lo_closed=False)
        for r in self.noise_rates:
            check_probability("finetune noise rate", r)
        check_choice("head", self.head, FINETUNE_HEADS)
        check_choice("schedule", self.schedule, FINETUNE_SCHEDULES)
        for e in self.decay_epochs:
            check_int("decay epoch", e)
        check_int("epochs", self.epochs)
        check_range("lr", self.lr, 0, 100, lo_closed=False)
        check_int("batch_size", self.batch_size)
        check_nonnegative("weight_decay", self.weight_decay)
        check_range("momentum", self.momentum, 0, 1, hi_closed=False)
        check_range("few_shot_fraction", self.few_shot_fraction, 0, 1, lo_closed=False)
        check_probability("noise_rate", self.noise_rate)
        check_choice("noise_model", self.noise_model, LABEL_NOISE_MODELS)
        check_choice("noise_sampling", self.noise_sampling, SAMPLING_MODES)
        check_int("seed", self.seed, minimum=0)
        check_int("num_workers", self.num_workers, minimum=0)

    def plan(self) -> dict:
        """The stage-level fields: the plan and the optimisation (what ``config.json`` records)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in FINETUNE_RUN_FIELDS}
