"""The ``gpu`` and ``tensor`` loaders: raw image bytes from DataLoader workers, batched decoding on the device,
then the batched kornia augmentation of :mod:`monotheory.vision.gpu_aug`.

:class:`GpuImages` is the data set the run hands to every stage (like :class:`~monotheory.vision.dali_loader.
DaliImages`): image files (any ImageFolder) or an in-memory uint8 array (digits, CIFAR-100), the kind of view
(``simclr``: two views; ``classifier``: the fine-tuning crop + flip; ``eval``: resize + centre crop) and the
device. :meth:`GpuImages.loader` builds a :class:`GpuLoader`:

- files on CUDA: ``DataLoader`` workers read each file's bytes (``torchvision.io.read_file``); the JPEGs of a
  batch are decoded together by ``torchvision.io.decode_jpeg(list, device="cuda")`` (nvJPEG) and augmented on the
  GPU in the main process; other formats are decoded by ``decode_image`` in the worker, and a JPEG nvJPEG
  refuses (CMYK, a PNG named .JPEG, as a few in ImageNet) on the CPU instead;
- files on a CPU: the same decoding (``decode_image``) and the same kornia code run inside the workers
  (:class:`WorkerBatches`), so the work is spread over them as the PIL pipeline's is;
- arrays: the batch is gathered from memory and augmented in the main process, no workers.

A file nothing decodes raises :class:`UnreadableImageError` naming it, or with ``skip_bad`` is dropped from its
batch and listed in ``skipped_files``.

The order is :class:`~monotheory.vision.data.EpochSampler`'s (seeded per epoch; ``DistributedSampler`` under
DDP), the augmentation per item from :class:`~monotheory.vision.gpu_aug.UniformTable`, so batches are the same
with any number of workers and after a resume (``set_epoch(e, start=batch)`` resumes inside an epoch).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from monotheory.config import check_choice
from monotheory.vision.config import LOADERS
from monotheory.vision.data import EpochSampler
from monotheory.vision.folders import UnreadableImageError
from monotheory.vision.gpu_aug import BatchAugment, UniformTable, eval_batch, view_params
from monotheory.vision.transforms import classifier_spec, simclr_spec

KINDS = ("simclr", "classifier", "eval")
JPEG_MAGIC = (0xFF, 0xD8, 0xFF)
SKIP_HINT = "rerun with --skip-bad-images to skip such files"


def is_jpeg(data: torch.Tensor) -> bool:
    return data.numel() > 3 and tuple(data[:3].tolist()) == JPEG_MAGIC


def decode_cpu(data: torch.Tensor) -> torch.Tensor | None:
    """Any image format torchvision reads, as uint8 RGB (3, H, W); ``None`` when it cannot."""
    from torchvision.io import ImageReadMode, decode_image

    try:
        return decode_image(data, mode=ImageReadMode.RGB)
    except (RuntimeError, ValueError):
        return None


class FileBytes(Dataset):
    """Worker side: key ``(epoch, i)`` → ``(epoch, i, payload)``; payload = the file's bytes (a JPEG to decode on
    the device), a decoded uint8 image (``decode=True`` or not a JPEG), or ``None`` (unreadable)."""

    def __init__(self, files: Sequence[str], decode: bool):
        self.files, self.decode = list(files), bool(decode)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, key):
        from torchvision.io import read_file

        epoch, i = key
        try:
            data = read_file(self.files[i])
        except (OSError, RuntimeError):
            return epoch, i, None
        if self.decode or not is_jpeg(data):
            return epoch, i, decode_cpu(data)
        return epoch, i, data


def _collate(items):
    return [i for _, i, _ in items], [p for _, _, p in items]


class Augment:
    """What a batch of decoded images becomes: the views of ``kind`` (per-item random numbers from a
    :class:`~monotheory.vision.gpu_aug.UniformTable` of ``seed``) or the evaluation transform. Picklable: on a
    CPU run it works inside the DataLoader workers (:class:`WorkerBatches`), on CUDA in the main process."""

    def __init__(self, kind: str, crop: int, mean, std, resize, blur: bool, seed: int):
        self.kind, self.crop, self.mean, self.std, self.resize = kind, crop, mean, std, resize
        self.views = 2 if kind == "simclr" else 1
        if kind != "eval":
            spec = simclr_spec(crop, blur=blur) if kind == "simclr" else classifier_spec(crop)
            self.aug = BatchAugment(spec, mean, std)
            self.table = UniformTable(seed, self.views, f"augment-{kind}")

    def __call__(self, idx, imgs, epoch: int):
        if self.kind == "eval":
            return eval_batch(imgs, self.crop, self.resize, self.mean, self.std)
        if isinstance(imgs, list):
            hw, batched = np.array([p.shape[-2:] for p in imgs]), False
        else:  # one in-memory size: one batched crop when no crop is shrunk
            hw, batched = np.tile(imgs.shape[-2:], (len(idx), 1)), self.crop >= max(imgs.shape[-2:])
        u = self.table.rows(epoch, idx)
        views = [self.aug(imgs, view_params(u[:, v], hw[:, 0], hw[:, 1], self.aug.spec), batched=batched)
                 for v in range(self.views)]
        return tuple(views) if self.views == 2 else views[0]


def drop_bad(idx, payloads, files, skip_bad: bool):
    """(kept indices, kept images, skipped paths); an unreadable image raises unless ``skip_bad``."""
    skipped = [files[i] for i, p in zip(idx, payloads, strict=True) if p is None]
    if skipped and not skip_bad:
        raise UnreadableImageError(f"cannot decode image file {skipped[0]} with torchvision.io; {SKIP_HINT}")
    keep = [(i, p) for i, p in zip(idx, payloads, strict=True) if p is not None]
    return [i for i, _ in keep], [p for _, p in keep], skipped


class WorkerBatches:
    """DataLoader ``collate_fn`` of a CPU run: decoded images → augmented batch, in the worker process, so the
    augmentation runs in parallel over the workers as the PIL pipeline does. Returns ``(indices, views,
    skipped paths)``; a batch of a training loader (``min_size`` 2) left with fewer images is ``None``."""

    def __init__(self, augment: Augment, files, skip_bad: bool, min_size: int):
        self.augment, self.files, self.skip_bad, self.min_size = augment, files, skip_bad, min_size

    def __call__(self, items):
        idx, imgs, skipped = drop_bad([i for _, i, _ in items], [p for _, _, p in items], self.files, self.skip_bad)
        if len(idx) < self.min_size:
            return idx, None, skipped
        return idx, self.augment(idx, imgs, items[0][0]), skipped


class GpuImages:
    """Images for the batched loaders: ``files`` or ``array`` (N, H, W, 3) uint8, ``targets``, ``classes``;
    ``kind`` of view (:data:`KINDS`), ``crop``, ``mean``/``std``, ``resize`` (eval), ``blur`` (simclr)."""

    def __init__(self, *, targets, classes, kind: str, crop: int, mean, std, files=None, array=None,
                 resize: int | None = None, blur: bool = True, device="cpu", num_workers: int = 0,
                 skip_bad: bool = False):
        self.files = list(files) if files is not None else None
        self.array = array
        self.targets, self.classes = [int(t) for t in targets], list(classes)
        self.kind, self.crop, self.mean, self.std, self.resize, self.blur = kind, crop, mean, std, resize, blur
        self.device, self.num_workers, self.skip_bad = torch.device(device), int(num_workers), bool(skip_bad)
        self.skipped_files: list[str] = []

    two_views = property(lambda self: self.kind == "simclr")  # what encoder_spec.extract and pretraining test

    def __len__(self) -> int:
        return len(self.targets)

    def _copy(self, **kw) -> GpuImages:
        d = dict(targets=self.targets, classes=self.classes, kind=self.kind, crop=self.crop, mean=self.mean,
                 std=self.std, files=self.files, array=self.array, resize=self.resize, blur=self.blur,
                 device=self.device, num_workers=self.num_workers, skip_bad=self.skip_bad)
        return GpuImages(**{**d, **kw})

    def with_kind(self, kind: str) -> GpuImages:
        return self._copy(kind=kind)

    def subset(self, indices) -> GpuImages:
        idx = np.asarray(indices, dtype=np.int64)
        return self._copy(targets=[self.targets[i] for i in idx],
                          files=[self.files[i] for i in idx] if self.files is not None else None,
                          array=self.array[idx] if self.array is not None else None)

    def loader(self, batch_size: int, *, seed: int = 0, shuffle: bool = False, drop_last: bool = False, dist=None,
               targets=None, extras=(), **_) -> GpuLoader:
        return GpuLoader(self, batch_size, seed=seed, shuffle=shuffle, drop_last=drop_last, dist=dist,
                         targets=targets, extras=extras)

    def __getitem__(self, i: int):
        """Item ``i`` as a single-image batch through the pipeline (epoch 0, no workers): (tensor(s), label)."""
        x, y = next(iter(self.subset([i])._copy(num_workers=0).loader(1)))
        return (tuple(v[0] for v in x) if self.two_views else x[0]), int(y[0])


class GpuLoader:
    """Batches of a :class:`GpuImages`: ``((view1, view2), labels)`` for ``simclr``, ``(images, labels)``
    otherwise, plus one tensor per array in ``extras`` (indexed like the items). ``targets`` replaces the
    labels (e.g. noisy ones). ``len()`` = batches per epoch; call :meth:`set_epoch` before each epoch."""

    def __init__(self, images: GpuImages, batch_size: int, *, seed: int = 0, shuffle: bool = False,
                 drop_last: bool = False, dist=None, targets=None, extras=()):
        self.images, self.batch_size, self.drop_last = images, int(batch_size), bool(drop_last)
        self.device = images.device
        n = len(images)
        self.targets = torch.as_tensor(np.asarray(targets if targets is not None else images.targets), dtype=torch.long)
        self.extras = [torch.as_tensor(np.asarray(e)) for e in extras]
        inner = None
        if dist is not None and dist.enabled:
            from torch.utils.data.distributed import DistributedSampler

            inner = DistributedSampler(range(n), num_replicas=dist.world_size, rank=dist.rank, shuffle=shuffle,
                                       seed=seed, drop_last=drop_last)
        self.sampler = EpochSampler(n, seed, inner, shuffle=shuffle)
        self.augment = Augment(images.kind, images.crop, images.mean, images.std, images.resize, images.blur, seed)
        self.in_workers = images.files is not None and self.device.type != "cuda"
        self._dl = None
        if images.files is not None:
            workers, cuda = images.num_workers, self.device.type == "cuda"
            collate = _collate if cuda else WorkerBatches(self.augment, images.files, images.skip_bad,
                                                          2 if self.drop_last else 1)
            self._dl = DataLoader(FileBytes(images.files, decode=not cuda), batch_size=self.batch_size,
                                  sampler=self.sampler, num_workers=workers, collate_fn=collate,
                                  drop_last=self.drop_last, persistent_workers=workers > 0, pin_memory=cuda)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.sampler.set_epoch(epoch, start=start_batch * self.batch_size)

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _batches(self):
        """(indices, views) per batch."""
        epoch = self.sampler.epoch
        if self.in_workers:  # decoded and augmented in the workers
            for idx, x, skipped in self._dl:
                self.images.skipped_files += skipped
                if x is not None:
                    yield idx, x
            return
        if self._dl is not None:  # CUDA: bytes from the workers, decoded and augmented on the device
            for idx, payloads in self._dl:
                idx, imgs = self._decode(idx, payloads)
                if len(idx) >= (2 if self.drop_last else 1):
                    yield idx, self.augment(idx, imgs, epoch)
            return
        keys = [i for _, i in self.sampler]
        stop = len(keys) - len(keys) % self.batch_size if self.drop_last else len(keys)
        for s in range(0, stop, self.batch_size):
            idx = keys[s:s + self.batch_size]
            yield idx, self.augment(idx, torch.from_numpy(self.images.array[idx]).permute(0, 3, 1, 2).to(self.device),
                                    epoch)

    def _decode(self, idx, payloads):
        from torchvision.io import ImageReadMode, decode_jpeg

        out = list(payloads)
        raw = [k for k, p in enumerate(out) if p is not None and p.ndim == 1]
        if raw:
            try:
                dec = decode_jpeg([out[k] for k in raw], mode=ImageReadMode.RGB, device=self.device)
            except RuntimeError:  # one bad file fails the batch: decode one at a time, the CPU as the fallback
                dec = []
                for k in raw:
                    try:
                        dec.append(decode_jpeg(out[k], mode=ImageReadMode.RGB, device=self.device))
                    except RuntimeError:
                        dec.append(decode_cpu(out[k]))
            for k, img in zip(raw, dec, strict=True):
                out[k] = img
        idx, imgs, skipped = drop_bad(idx, out, self.images.files, self.images.skip_bad)
        self.images.skipped_files += skipped
        return idx, [p.to(self.device, non_blocking=True) for p in imgs]

    def __iter__(self):
        for idx, x in self._batches():
            sel = torch.as_tensor(idx)
            yield (x, self.targets[sel], *(e[sel] for e in self.extras))


# --------------------------------------------------------------------------------- building and checking sets


def source_of(ds) -> dict:
    """``files`` or ``array``, ``targets`` and ``classes`` of a data set of :mod:`monotheory.vision.folders` /
    :mod:`~monotheory.vision.arrays` (or a subset of one): what :class:`GpuImages` reads."""
    base = getattr(ds, "dataset", None)
    if base is not None and hasattr(ds, "indices"):  # a LabelledSubset
        src = source_of(base)
        idx = list(ds.indices)
        out = {"targets": [src["targets"][i] for i in idx], "classes": src["classes"]}
        if "files" in src:
            return {**out, "files": [src["files"][i] for i in idx]}
        return {**out, "array": src["array"][np.asarray(idx, dtype=np.int64)]}
    if hasattr(ds, "samples"):
        return {"files": [p for p, _ in ds.samples], "targets": [t for _, t in ds.samples], "classes": ds.classes}
    array = getattr(ds, "images", None)
    if array is None:
        array = ds.data  # torchvision's CIFAR-100: (N, 32, 32, 3) uint8
    return {"array": np.asarray(array, dtype=np.uint8), "targets": list(ds.targets), "classes": ds.classes}


def gpu_sets(train, val, cfg, mean, std, device) -> dict:
    """The :class:`GpuImages` of a run: pretraining views (``gpu_train_aug``), the un-augmented training and
    validation sets (``gpu_train_eval``, ``gpu_val``) and the fine-tuning set (``gpu_train_ft``)."""
    common = dict(crop=cfg.crop_size, mean=mean, std=std, resize=cfg.eval_resize or None, blur=cfg.blur,
                  device=device, num_workers=cfg.num_workers, skip_bad=cfg.skip_bad_images)
    tr = GpuImages(kind="eval", **source_of(train), **common)
    return {"gpu_train_aug": tr.with_kind("simclr"), "gpu_train_eval": tr, "gpu_val": GpuImages(
        kind="eval", **source_of(val), **common), "gpu_train_ft": tr.with_kind("classifier")}


def resolve_loader(loader: str, dataset: str, device_type: str) -> str:
    """``auto`` → ``gpu`` for image folders on CUDA, ``tensor`` for in-memory sets on CUDA, ``torchvision`` on
    a CPU (its per-image PIL pipeline is the faster one there at ImageNet sizes); any other value unchanged."""
    check_choice("loader", loader, LOADERS)
    if loader != "auto":
        return loader
    if device_type == "cuda":
        return "tensor" if dataset in ("digits", "cifar100") else "gpu"
    return "torchvision"


def _whole(path: str) -> bool:
    """Cheap structural check: a JPEG starts with SOI and has an EOI marker in its last 4 KiB; a PNG has its
    signature and ``IEND`` at the end; any other file must be a format PIL recognises from its header."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 4096))
            tail = f.read()
    except OSError:
        return False
    if head[:3] == bytes(JPEG_MAGIC):
        return b"\xff\xd9" in tail
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return b"IEND" in tail[-16:]
    from PIL import Image

    try:
        with Image.open(path):
            return True
    except Exception:  # any failure: not an image PIL knows
        return False


def scan_files(files: Sequence[str]) -> list[str]:
    """The files of ``files`` that fail :func:`_whole` (threads; a read of the head and tail of each)."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(16, (os.cpu_count() or 1) * 2)) as pool:
        ok = list(pool.map(_whole, files, chunksize=256))
    return [f for f, good in zip(files, ok, strict=True) if not good]
