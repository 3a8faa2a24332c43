"""What the stages of one ``run-imagenet`` run share: :class:`RunContext` (config, device, DDP info, data,
encoders, the SAE, the feature cache and its keys) and :func:`config_record` (the part of the config written
beside every result).

Feature sets (the paper's Figure 1 columns): ``cl`` = the CL projector output, ``ncl`` = the NCL projector
output (ReLU'd), ``sae`` = the top-k SAE codes of the L2-normalised CL output. Features are extracted once
and cached as ``features/<enc>_<split>_s<σ>_<key>.pt``, where ``key`` hashes everything that determines
them (:meth:`RunContext.feature_key`: the encoder file's size and mtime, data set and root, split, crop and
resize, σ and noise kind, seed …), so a changed setting never reuses old features; the SAE codes are
computed from the cached CL features. Input noise is added to the *normalised* image tensor at test time
only (``X + σ·N(0, I)`` or ``X + σ·U[0, 1)``), seeded per batch (:func:`input_noise_seed`), so every method
sees the same noisy images.

Seeds: ``--seed`` is the one seed of a run; every random draw takes a named stream under it
(:mod:`monotheory.seeding`): ``("augment", epoch, index, rank)`` per training image, ``("shuffle", epoch)``
per epoch, ``("input-noise", σ, batch)`` per test batch, ``("label-noise", rate)`` per training noise rate
(the same draw for every method), ``("corruption", index)`` per corrupted image. CL and NCL start from the
same weights (``torch.manual_seed(seed)``). Same seed, same data, same CPU → bit-identical results.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from monotheory.config import to_dict
from monotheory.errors import ConfigError
from monotheory.files import atomic_write_json
from monotheory.noise import input_noise
from monotheory.seeding import stream_seed
from monotheory.vision import data as D
from monotheory.vision.config import FINETUNE_RUN_FIELDS, NESTED, REGIME, RUNTIME_KEYS, RunConfig
from monotheory.vision.dali_loader import dali_sets
from monotheory.vision.distributed import (
    barrier,
    broadcast_object,
    gather_to_file,
    init_distributed,
    shard_bounds,
    shutdown,
)
from monotheory.vision.encoders import Encoder, EncoderConfig
from monotheory.vision.eta import Eta, plan_units
from monotheory.vision.features import FeatureCache, extract
from monotheory.vision.loaders import gpu_sets, resolve_loader
from monotheory.vision.sae import load_sae, sae_codes


def sigma_key(sigma: float) -> str:
    """The key of a test σ in result files (``f"{σ:g}"``)."""
    return f"{float(sigma):g}"


def config_record(cfg: RunConfig) -> dict:
    """The part of the config that fixes the results (runtime keys and the output path left out)."""
    d = json.loads(json.dumps(to_dict(cfg), default=list))

    for k in FINETUNE_RUN_FIELDS:  # set per run by the stage, not settings of the run
        d["finetune"].pop(k, None)
    for k in (*RUNTIME_KEYS, "out"):
        d.pop(k, None)
    return d



def config_from_record(record: dict, **runtime) -> RunConfig:
    """The :class:`RunConfig` of a :func:`config_record` (``config.json``'s ``config``) plus runtime keys and
    ``out`` (e.g. ``stages=("sae",)``); used by ``monotheory verify --retrain`` to rerun a stage."""
    def fields(d: dict) -> dict:  # to_dict's "_type" tags are not fields
        return {k: v for k, v in d.items() if not k.startswith("_")}

    kw = {k: v for k, v in fields(record).items() if k not in NESTED}
    for name, cls in NESTED.items():
        kw[name] = cls(**fields(record.get(name, {})))
    kw.update({k: v for k, v in runtime.items() if v is not None})
    kw["progress"] = False
    return RunConfig(**kw)


class RunContext:
    """What the stages of one ``run-imagenet`` run share: config, device, DDP info, data, encoders, caches.

    Data sets and encoders are loaded on first use. Files live under ``cfg.out``: ``<stage>.json``
    results, ``checkpoints/`` (encoders, SAE, clean probes, pretraining and fine-tuning checkpoints) and
    ``features/`` (cached features).
    """

    def __init__(self, cfg, log=print):
        self.cfg, self._log = cfg, log
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.out = Path(cfg.out)
        self.ckpt_dir = self.out / "checkpoints"
        want = cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        self.dist = init_distributed(want)
        self.device = torch.device(f"cuda:{self.dist.local_rank}" if want == "cuda" and self.dist.enabled else want)
        self.progress = cfg.progress if cfg.progress is not None else sys.stderr.isatty()
        self.cache = FeatureCache(self.out / "features")
        self.loader = resolve_loader(cfg.loader, cfg.dataset, self.device.type)
        self._eta = None
        self._data = None
        self._train_ft = None
        self._encoders: dict = {}
        self._sae = None

    # -- plumbing
    def log(self, msg: str) -> None:
        if self.dist.is_main:
            self._log(msg)

    def broadcast(self, obj):
        return broadcast_object(obj, self.dist)

    def barrier(self) -> None:
        barrier(self.dist)

    def close(self) -> None:
        shutdown(self.dist)

    def result_path(self, name: str) -> Path:
        return self.out / f"{name}.json"

    def fresh(self, stage: str) -> bool:
        """True when ``--force`` asks to redo ``stage`` from scratch."""
        return bool(self.cfg.force) and stage in self.cfg.stages

    def done(self, name: str, stage: str | None = None) -> bool:
        """Whether result ``name`` exists (and is not to be redone); logs the skip."""
        if self.result_path(name).exists() and not self.fresh(stage or name):
            self.log(f"{name}: done ({self.result_path(name).name} exists), skipping")
            return True
        return False

    def require(self, name: str, stage: str) -> None:
        if not self.result_path(name).exists():
            first = name.split("_")[0]
            raise ConfigError(f"stage {stage} needs {name}.json in {self.out}, which is missing; run the "
                              f"{first} stage first (--stages {first},{stage})")

    def write_result(self, name: str, obj: dict) -> None:
        """Write ``<name>.json`` (rank 0) with the method → regime map and the run's config record beside ``obj``."""
        if self.dist.is_main:
            atomic_write_json(self.result_path(name), {**obj, "world_size": self.dist.world_size, "loader": self.loader,
                                                       "skipped_bad_images": self.skipped_files(),
                                                       "regimes": dict(REGIME), "run_config": config_record(self.cfg)})

    def skipped_files(self) -> list[str]:
        """Unreadable image files left out so far (``--skip-bad-images``): by the up-front check and, in the
        ``gpu`` loader, at decoding time (this process's)."""
        if self._data is None:
            return []
        sets = [v for k, v in self._data.items() if hasattr(v, "skipped_files")] + (
            [self._train_ft] if self._train_ft is not None else [])
        return sorted({f for s in sets for f in s.skipped_files})

    @property
    def eta(self):
        """The run's :class:`~monotheory.vision.eta.Eta` (the work of every requested stage not done yet)."""
        if self._eta is None:
            todo = [s for s in self.cfg.stages if not self.result_path(s if s != "pretrain" else "pretrain_cl").exists()]
            self._eta = Eta(self.log, plan_units(self.cfg, len(self.train_eval), len(self.val), todo))
        return self._eta

    # -- data
    def _load(self):
        if self._data is None:
            c = self.cfg
            mean, std = D.normalization(c.dataset)
            resize = c.eval_resize or None
            ev = D.eval_transform(c.crop_size, mean, std, resize=resize)
            raw = D.eval_transform(c.crop_size, None, None, resize=resize)
            kw = dict(skip_bad_images=c.skip_bad_images)
            aug, val, names = D.load_datasets(c.dataset, c.data_root, train_transform=D.simclr_transform(
                c.crop_size, mean, std, blur=c.blur), eval_transform=ev, **kw)
            plain, val_raw, _ = D.load_datasets(c.dataset, c.data_root, train_transform=ev, eval_transform=raw, **kw)
            for ds in (plain, val, val_raw):  # in-memory images (digits): transform the evaluation sets once
                getattr(ds, "precompute", lambda: None)()
            if c.train_fraction < 1:
                idx = D.few_shot_indices(aug.targets, c.train_fraction, c.seed)
                aug, plain = D.subset(aug, idx), D.subset(plain, idx)
            self._data = dict(train_aug=aug, train_eval=plain, val=val, val_raw=val_raw, names=list(names),
                              mean=mean, std=std, eval_tf=ev)
            if self.loader == "dali":  # file-backed DALI pipelines for pretraining and feature extraction
                self._data.update(dali_sets(aug, plain, val, c, mean, std, self.device.type))
            elif self.loader in ("gpu", "tensor"):  # batched decoding + kornia augmentation on the device
                self._data.update(gpu_sets(plain, val, c, mean, std, self.device))
        return self._data

    @property
    def train_ft(self):
        """The training set with the fine-tuning augmentation (RandomResizedCrop + flip), loaded on first use."""
        if self._train_ft is None and "gpu_train_ft" in self._load():
            self._train_ft = self._load()["gpu_train_ft"]
        if self._train_ft is None:
            c, d = self.cfg, self._load()
            tf = D.classifier_train_transform(c.crop_size, d["mean"], d["std"])
            ds, _, _ = D.load_datasets(c.dataset, c.data_root, train_transform=tf, eval_transform=None,
                                       skip_bad_images=c.skip_bad_images)
            if c.train_fraction < 1:
                ds = D.subset(ds, D.few_shot_indices(ds.targets, c.train_fraction, c.seed))
            self._train_ft = ds
        return self._train_ft

    def _pick(self, key: str, backends=("gpu",)):
        d = self._load()
        return next((d[f"{b}_{key}"] for b in backends if f"{b}_{key}" in d), d[key])

    train_aug = property(lambda self: self._pick("train_aug", ("gpu", "dali")))
    train_eval = property(lambda self: self._pick("train_eval"))
    val = property(lambda self: self._pick("val"))
    val_raw = property(lambda self: self._load()["val_raw"])
    class_names = property(lambda self: self._load()["names"])
    num_classes = property(lambda self: len(self._load()["names"]))

    # -- models
    def new_encoder(self, name: str):
        """A freshly initialised encoder (``cl`` or ``ncl``), seeded so that CL and NCL start from the same weights."""
        c = self.cfg
        with torch.random.fork_rng(devices=[]):  # restores the CPU generator only, so seed only that one
            torch.default_generator.manual_seed(c.seed)
            return Encoder(EncoderConfig(arch=c.arch, cifar_stem=c.cifar_stem, proj_hidden=c.proj_hidden,
                                         proj_out=c.proj_out, nonneg=(name == "ncl"), proj_bn=c.proj_bn,
                                         crop_size=c.crop_size, stem_padding=c.stem_padding))

    def encoder_path(self, name: str) -> Path:
        return self.ckpt_dir / f"encoder_{name}.pt"

    def load_encoder(self, name: str, stage: str = "probe"):
        if name not in self._encoders:
            self.require(f"pretrain_{name}", stage)
            enc = self.new_encoder(name)
            enc.load_state_dict(torch.load(self.encoder_path(name), map_location="cpu", weights_only=True))
            self._encoders[name] = enc.to(self.device).eval()
        return self._encoders[name]

    def load_sae(self, stage: str = "probe"):
        if self._sae is None:
            self.require("sae", stage)
            self._sae = load_sae(self.ckpt_dir / "sae.pt", self.device)
        return self._sae

    # -- features
    def feature_key(self, enc: str, split: str, sigma: float = 0.0, kind: str | None = None) -> str:
        """A hash of everything the features of (``enc``, ``split``, σ) depend on; part of the cache file name."""
        import hashlib
        import json

        c, st = self.cfg, self.encoder_path(enc).stat()
        parts = {"encoder": [enc, st.st_size, st.st_mtime_ns], "split": split, "dataset": c.dataset,
                 "data_root": "sklearn:digits" if c.dataset == "digits" else str(Path(c.data_root).expanduser().resolve()), "train_fraction": c.train_fraction,
                 "crop": c.crop_size, "resize": c.eval_resize, "seed": c.seed, "skip_bad": c.skip_bad_images,
                 "sigma": float(sigma), "noise": (kind or c.probe.input_noise) if sigma > 0 else None,
                 "shift": sorted(c.shift) if split.startswith("shift-") else None, "device": self.device.type,
                 "loader": self.loader}
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]

    def features(self, enc: str, split: str, sigma: float = 0.0, ds=None, stage: str = "probe",
                 kind: str | None = None):
        """Cached (features, targets) of encoder ``enc`` on ``split`` (``train``/``val``/a shift set) at σ, with
        noise of ``probe.input_noise`` (files ``…_s<σ>_…``) or of an explicit ``kind`` (``…_<kind[0]><σ>_…``:
        the ``probe.uniform_noise`` scales).

        Under DDP every rank extracts a contiguous block of whole batches (input noise seeded by the global batch
        index, so the features are those of one process) and the blocks are joined through the cache folder."""
        p = self.cfg.probe
        self.require(f"pretrain_{enc}", stage)  # before feature_key reads the encoder file
        tag = f"{kind[0]}{sigma_key(sigma)}" if kind else f"s{sigma_key(sigma)}"
        path = self.cache.path(f"{enc}_{split}_{tag}_{self.feature_key(enc, split, sigma, kind)}")
        if self.broadcast(path.exists()):
            d = torch.load(path, weights_only=True)
            return d["features"], d["targets"]
        model = self.load_encoder(enc, stage)
        data = ds if ds is not None else {"train": self._pick("train_eval", ("gpu", "dali")),
                                          "val": self._pick("val", ("gpu", "dali"))}[split]
        bs = p.extract_batch_size
        lo, hi = shard_bounds(-(-len(data) // bs), self.dist)
        if self.dist.enabled:
            data = shard(data, range(lo * bs, min(len(data), hi * bs)))
        fn = _Inputs(model, sigma, kind or p.input_noise, self.cfg.seed, lo,
                     lambda n: self.eta.tick(n * self.dist.world_size))
        self.eta.resume()  # the stage's clock runs during extraction only (not while probes are fitted)
        x, y = extract(fn, data, batch_size=bs, device=self.device, num_workers=self.cfg.num_workers,
                       progress=self.progress and self.dist.is_main, desc=f"features {enc} {split} σ={sigma:g}")
        self.eta.pause()
        d = gather_to_file({"features": x, "targets": y}, path, self.dist)
        return d["features"], d["targets"]

    def method_features(self, method: str, split: str, sigma: float = 0.0, ds=None, stage: str = "probe",
                        kind: str | None = None):
        """Features of a Figure-1 column: ``cl``, ``ncl``, or ``sae`` (codes of the CL features)."""
        if method == "sae":
            x, y = self.features("cl", split, sigma, ds, stage, kind)
            return sae_codes(self.load_sae(stage), x, normalize=self.cfg.sae.probe_input == "normalized"), y
        return self.features(method, split, sigma, ds, stage, kind)


class _Inputs:
    """``model`` with the test-time input noise of :func:`monotheory.vision.features.extract` applied to each batch,
    seeded by the *global* batch index (``first_batch`` + the batches seen), and a tick per batch."""

    def __init__(self, model, sigma: float, kind: str, seed: int, first_batch: int, tick):
        self.model, self.sigma, self.kind, self.seed, self.i, self.tick = model, sigma, kind, seed, first_batch, tick

    def __call__(self, x):
        if self.sigma > 0:
            x = input_noise(x, self.sigma, kind=self.kind, seed=stream_seed(self.seed, "input-noise",
                                                                          f"{self.sigma:g}", self.i))
        self.i += 1
        self.tick(x.shape[0])
        return self.model(x)


def shard(ds, indices):
    """``ds`` restricted to ``indices`` (a range), for any data set a stage extracts features from."""
    if hasattr(ds, "subset"):  # GpuImages, DaliImages
        return ds.subset(list(indices))
    return torch.utils.data.Subset(ds, list(indices))
