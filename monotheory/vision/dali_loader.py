"""The ``dali`` loader backend: NVIDIA DALI pipelines for pretraining (two SimCLR views) and feature extraction.

The authors loaded ImageNet-100 with DALI (solo-learn's ``format: dali``); a PIL loader at 224 px typically
cannot feed a modern GPU. Same augmentations as :func:`monotheory.vision.data.simclr_transform`:
RandomResizedCrop (scale 0.08–1, bicubic), colour jitter (0.8, 0.8, 0.8, 0.2) with p = 0.8, grayscale p = 0.2,
Gaussian blur p = 0.5, horizontal flip p = 0.5, normalisation to the data set's mean/std,
CHW float32. The evaluation pipeline: resize the shorter side (bilinear), centre crop, normalise. As in
solo-learn's DALI code, the random choices switch parameters to their identity values (e.g. brightness 1)
rather than branching; DALI's contrast is centred on mid-grey (torchvision: the image's mean grey) and the
jitter operations run in a fixed order — differences of distribution detail, not of kind.

``device="cpu"`` builds a CPU-only pipeline (``device_id=None``), so the tests can run it on a machine without a
GPU; ``"cuda"`` decodes with nvJPEG (``mixed``) and augments on the GPU. Needs the ``dali`` extra
(``pip install nvidia-dali-cuda130``); without it :func:`require_dali` raises a one-line ConfigError.
DALI shuffles with its own seeded generator: runs are repeatable but, unlike the torchvision backend, a resumed
epoch does not replay the interrupted one's order.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

from monotheory.errors import ConfigError
from monotheory.vision.transforms import simclr_spec

INSTALL = "install it with `pip install nvidia-dali-cuda130` (or the project's `dali` extra)"


def dali_available() -> bool:
    return importlib.util.find_spec("nvidia") is not None and importlib.util.find_spec("nvidia.dali") is not None


def require_dali() -> None:
    """One-line ConfigError naming the missing package when DALI is not importable."""
    try:
        ok = dali_available()
    except (ImportError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(f"--loader dali needs NVIDIA DALI, which is not installed; {INSTALL}")


def _augment(images, crop: int, mean, std, blur: bool):
    from nvidia.dali import fn, types

    x = fn.random_resized_crop(images, size=[crop, crop], random_area=[0.08, 1.0], random_aspect_ratio=[3 / 4, 4 / 3],
                               interp_type=types.INTERP_CUBIC)
    jit = fn.random.coin_flip(probability=0.8)
    b = 1.0 + jit * (fn.random.uniform(range=[0.2, 1.8]) - 1.0)
    c = 1.0 + jit * (fn.random.uniform(range=[0.2, 1.8]) - 1.0)
    s = 1.0 + jit * (fn.random.uniform(range=[0.2, 1.8]) - 1.0)
    h = jit * fn.random.uniform(range=[-0.2 * 360, 0.2 * 360])  # torchvision's hue 0.2 of the circle, in degrees
    x = fn.brightness_contrast(x, brightness=b, contrast=c)
    gray = fn.random.coin_flip(probability=0.2)
    x = fn.hsv(x, hue=h, saturation=s * (1.0 - gray))  # saturation 0 = grayscale
    if blur:
        kernel = simclr_spec(crop).blur_kernel
        on = fn.random.coin_flip(probability=0.5)
        sigma = on * fn.random.uniform(range=[0.1, 2.0]) + (1.0 - on) * 1e-3  # σ 1e-3: the identity
        x = fn.gaussian_blur(x, window_size=kernel, sigma=sigma)
    return fn.crop_mirror_normalize(x, dtype=types.FLOAT, output_layout="CHW", mirror=fn.random.coin_flip(),
                                    mean=[255 * m for m in mean], std=[255 * v for v in std])


def _reader(files, labels, shuffle: bool, seed: int, shard_id: int, num_shards: int, device: str):
    from nvidia.dali import fn, types

    jpegs, lab = fn.readers.file(files=list(files), labels=[int(v) for v in labels], random_shuffle=shuffle,
                                 seed=seed, shard_id=shard_id, num_shards=num_shards, name="Reader")
    images = fn.decoders.image(jpegs, device="mixed" if device == "cuda" else "cpu", output_type=types.RGB)
    return images, lab


def _pipeline(batch_size: int, num_threads: int, device: str, device_id: int, seed: int):
    kw = dict(batch_size=batch_size, num_threads=max(1, num_threads), seed=seed, prefetch_queue_depth=2)
    kw["device_id"] = device_id if device == "cuda" else None
    return kw


class DaliLoader:
    """Iterable of torch batches from a DALI pipeline: ``((view1, view2), labels)`` (``two_views``) or
    ``(images, labels)``; ``len()`` is the number of batches; ``set_epoch`` is accepted (DALI reshuffles itself)."""

    def __init__(self, pipe, outputs: Sequence[str], n: int, batch_size: int, drop_last: bool):
        from nvidia.dali.plugin.pytorch import DALIGenericIterator, LastBatchPolicy

        pipe.build()
        policy = LastBatchPolicy.DROP if drop_last else LastBatchPolicy.PARTIAL
        self._it = DALIGenericIterator([pipe], list(outputs), reader_name="Reader", last_batch_policy=policy,
                                       auto_reset=True)
        self.outputs, self.n, self.batch_size, self.drop_last = list(outputs), n, batch_size, drop_last

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:  # the pretraining loop's sampler protocol
        self.epoch = int(epoch)

    def __iter__(self):
        for batch in self._it:
            d = batch[0]
            y = d["label"].view(-1).long().cpu()
            if "v2" in d:
                yield (d["v1"], d["v2"]), y
            else:
                yield d["images"], y


def pretrain_loader(files, labels, *, crop: int, mean, std, blur: bool, batch_size: int, seed: int,
                    device: str = "cpu", device_id: int = 0, shard_id: int = 0, num_shards: int = 1,
                    num_threads: int = 4) -> DaliLoader:
    """Two SimCLR views of each image, shuffled every epoch, last partial batch dropped."""
    require_dali()
    from nvidia.dali import pipeline_def

    @pipeline_def(**_pipeline(batch_size, num_threads, device, device_id, seed))
    def pipe():
        images, lab = _reader(files, labels, True, seed, shard_id, num_shards, device)
        return _augment(images, crop, mean, std, blur), _augment(images, crop, mean, std, blur), lab

    return DaliLoader(pipe(), ("v1", "v2", "label"), len(files) // num_shards, batch_size, drop_last=True)


def eval_loader(files, labels, *, crop: int, resize: int | None, mean, std, batch_size: int, device: str = "cpu",
                device_id: int = 0, num_threads: int = 4) -> DaliLoader:
    """Every image once, in the given order: resize the shorter side (as :func:`~monotheory.vision.data.
    eval_transform`: to ``resize`` or crop·256/224 for crops > 64 px, to ``crop`` otherwise), centre crop, normalise."""
    require_dali()
    from nvidia.dali import fn, pipeline_def, types

    # the size rule of eval_transform: crops > 64 px resize to `resize` (default crop·256/224), small crops to crop
    shorter = (resize or int(crop * 256 / 224)) if crop > 64 else crop

    @pipeline_def(**_pipeline(batch_size, num_threads, device, device_id, 0))
    def pipe():
        images, lab = _reader(files, labels, False, 0, 0, 1, device)
        x = fn.resize(images, resize_shorter=shorter, interp_type=types.INTERP_LINEAR, antialias=True)
        x = fn.crop_mirror_normalize(x, dtype=types.FLOAT, output_layout="CHW", crop=[crop, crop],
                                     crop_pos_x=0.5, crop_pos_y=0.5, mean=[255 * m for m in mean],
                                     std=[255 * v for v in std])
        return x, lab

    return DaliLoader(pipe(), ("images", "label"), len(files), batch_size, drop_last=False)


class DaliImages:
    """A file-backed data set for the ``dali`` backend: ``files``, ``targets``, ``classes`` and the settings of
    its pipelines; :meth:`loader` builds the pretraining (``two_views``) or evaluation loader."""

    def __init__(self, files, targets, classes, *, crop: int, resize: int | None, mean, std, blur: bool,
                 two_views: bool, device: str = "cpu", num_threads: int = 4):
        self.files, self.targets, self.classes = list(files), [int(t) for t in targets], list(classes)
        self.crop, self.resize, self.mean, self.std, self.blur = crop, resize, mean, std, blur
        self.two_views, self.device, self.num_threads = two_views, device, num_threads

    def __len__(self) -> int:
        return len(self.files)

    def subset(self, indices) -> DaliImages:
        """The same pipelines over ``files[i] for i in indices`` (a rank's share of feature extraction)."""
        idx = list(indices)
        return DaliImages([self.files[i] for i in idx], [self.targets[i] for i in idx], self.classes, crop=self.crop,
                          resize=self.resize, mean=self.mean, std=self.std, blur=self.blur, two_views=self.two_views,
                          device=self.device, num_threads=self.num_threads)

    def loader(self, batch_size: int, *, seed: int = 0, device_id: int = 0, shard_id: int = 0,
               num_shards: int = 1) -> DaliLoader:
        if self.two_views:
            return pretrain_loader(self.files, self.targets, crop=self.crop, mean=self.mean, std=self.std,
                                   blur=self.blur, batch_size=batch_size, seed=seed, device=self.device,
                                   device_id=device_id, shard_id=shard_id, num_shards=num_shards,
                                   num_threads=self.num_threads)
        return eval_loader(self.files, self.targets, crop=self.crop, resize=self.resize, mean=self.mean, std=self.std,
                           batch_size=batch_size, device=self.device, device_id=device_id,
                           num_threads=self.num_threads)


def from_image_folder(ds, **kw) -> DaliImages:
    """The :class:`DaliImages` of a folder data set (``ds.samples`` = [(path, class index)], ``ds.classes``)."""
    if not hasattr(ds, "samples"):
        raise ConfigError("--loader dali reads image files: use --dataset imagenet100 or folder, not in-memory "
                          "data (cifar100, digits)")
    return DaliImages([p for p, _ in ds.samples], [t for _, t in ds.samples], ds.classes, **kw)


def _files_of(ds):
    if hasattr(ds, "samples"):
        return ds
    base = getattr(ds, "dataset", None)  # a LabelledSubset of a folder data set
    if base is not None and hasattr(base, "samples"):
        import types

        return types.SimpleNamespace(samples=[base.samples[i] for i in ds.indices], classes=base.classes)
    return ds


def dali_sets(train_aug, train_eval, val, cfg, mean, std, device: str) -> dict:
    """DALI versions of a run's pretraining, training-evaluation and validation sets (keys ``dali_*``)."""
    require_dali()
    common = dict(crop=cfg.crop_size, resize=cfg.eval_resize or None, mean=mean, std=std, blur=cfg.blur,
                  device=device, num_threads=max(1, cfg.num_workers))
    return {"dali_train_aug": from_image_folder(_files_of(train_aug), two_views=True, **common),
            "dali_train_eval": from_image_folder(_files_of(train_eval), two_views=False, **common),
            "dali_val": from_image_folder(_files_of(val), two_views=False, **common)}
