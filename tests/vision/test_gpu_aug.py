"""The batched kornia augmentation (``gpu`` / ``tensor`` loaders) against torchvision's per-image pipeline.

Statistics: the parameters drawn by :mod:`monotheory.vision.gpu_aug` (crop area and aspect ratio, jitter
factors, σ of the blur, the rates of jitter, grayscale, blur and flip) are compared with torchvision's own
samplers on the same image size. False-alarm budget: ``FALSE_ALARM_PER_TEST`` = 1e-3 per test (tests/conftest.py),
split evenly (Bonferroni) over the comparisons of a test; seeds come from ``mc_seed`` so ``make test-stress``
tries fresh draws. Each statistics test also shows that a wrong sampler is caught at the same threshold.

Operations: kornia's colour jitter (fixed order), hue, blur and grayscale against torchvision's functional ops on
the same parameters, and the documented differences (fixed vs permuted jitter order; the batched crop's border).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from monotheory.vision import gpu_aug as G
from monotheory.vision.transforms import AugSpec, classifier_spec, simclr_spec

ALPHA = 1e-3  # FALSE_ALARM_PER_TEST of tests/conftest.py
N = 4000
H, W = 375, 500


def ours(seed: int, spec: AugSpec, n: int = N) -> dict[str, np.ndarray]:
    """Parameters of n items × 2 views for an H × W image, pooled over the views."""
    u = G.UniformTable(seed, 2, "test").rows(0, np.arange(n))
    ps = [G.view_params(u[:, v], np.full(n, H), np.full(n, W), spec) for v in range(2)]
    return {k: np.concatenate([p[k] for p in ps]) for k in ps[0]}


def torchvision_boxes(seed: int, n: int, scale=(0.08, 1.0)) -> np.ndarray:
    from torchvision import transforms as T

    img = torch.zeros(3, H, W)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return np.array([T.RandomResizedCrop.get_params(img, scale, (3 / 4, 4 / 3)) for _ in range(n)])


def area_and_log_ratio(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = boxes[:, 2].astype(float), boxes[:, 3].astype(float)
    return h * w / (H * W), np.log(w / h)


def test_crop_area_and_aspect_ratio_match_torchvision(mc_seed):
    p = ours(mc_seed(1), simclr_spec(224))
    tv = torchvision_boxes(mc_seed(2), 2 * N)
    a, r = area_and_log_ratio(p["box"])
    ta, tr = area_and_log_ratio(tv)
    assert stats.ks_2samp(a, ta).pvalue > ALPHA / 2 and stats.ks_2samp(r, tr).pvalue > ALPHA / 2
    box = p["box"]
    assert (box[:, 0] >= 0).all() and (box[:, 1] >= 0).all()
    assert (box[:, 0] + box[:, 2] <= H).all() and (box[:, 1] + box[:, 3] <= W).all()
    # power: the same test refuses torchvision's sampler with scale 0.16–1 instead of 0.08–1
    wrong, _ = area_and_log_ratio(torchvision_boxes(mc_seed(3), 2 * N, scale=(0.16, 1.0)))
    assert stats.ks_2samp(a, wrong).pvalue < ALPHA / 2


def test_crop_positions_are_uniform_over_the_free_range(mc_seed):
    p = ours(mc_seed(4), simclr_spec(224))
    top, h = p["box"][:, 0], p["box"][:, 2]
    free = H - h
    ok = free > 0
    rel = (top[ok] + 0.5) / (free[ok] + 1)  # the position inside its range, uniform on (0, 1) up to discreteness
    assert stats.kstest(rel, "uniform").pvalue > ALPHA
    assert stats.kstest(rel ** 2, "uniform").pvalue < ALPHA  # a skewed position would be caught


def test_jitter_factors_match_torchvision(mc_seed):
    from torchvision import transforms as T

    p = ours(mc_seed(5), simclr_spec(224))
    on = p["jitter"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(mc_seed(6))
        tv = np.array([T.ColorJitter.get_params((0.2, 1.8), (0.2, 1.8), (0.2, 1.8), (-0.2, 0.2))[1:]
                       for _ in range(int(on.sum()))])
    for k in range(4):  # brightness, contrast, saturation, hue
        assert stats.ks_2samp(p["factors"][on, k], tv[:, k]).pvalue > ALPHA / 5, k
    assert (p["factors"][~on] == np.array([1.0, 1.0, 1.0, 0.0])).all()  # off: the neutral factors
    # power: a hue range of ±0.1 instead of ±0.2 is refused
    assert stats.ks_2samp(p["factors"][on, 3], tv[:, 3] / 2).pvalue < ALPHA / 5


@pytest.mark.parametrize("spec, rates", [
    (simclr_spec(224), {"jitter": 0.8, "gray": 0.2, "blur": 0.5, "flip": 0.5}),
    (simclr_spec(32), {"jitter": 0.8, "gray": 0.2, "blur": 0.5, "flip": 0.5}),  # blur at 32 px too, as the authors
    (simclr_spec(32, blur=False), {"jitter": 0.8, "gray": 0.2, "blur": 0.0, "flip": 0.5}),
    (classifier_spec(224), {"jitter": 0.0, "gray": 0.0, "blur": 0.0, "flip": 0.5}),
])
def test_application_rates_are_the_specs(spec, rates, mc_seed):
    p = ours(mc_seed(7), spec)
    n = len(p["flip"])
    z = stats.norm.isf(ALPHA / 8 / 2)  # Bonferroni over 4 rates, two-sided
    for k, rate in rates.items():
        hat = p[k].mean()
        assert abs(hat - rate) <= z * math.sqrt(rate * (1 - rate) / n) + 1e-12, (k, hat)
    sig = p["sigma"][p["blur"]]
    if len(sig):  # σ uniform on [0.1, 2] (torchvision GaussianBlur.get_params)
        assert stats.kstest(sig, "uniform", args=(0.1, 1.9)).pvalue > ALPHA / 8


def test_uniform_table_rows_depend_on_the_index_only():
    t = G.UniformTable(3, 2, "x", chunk=8)
    a = t.rows(5, [3, 17, 9, 40])
    b = G.UniformTable(3, 2, "x", chunk=8).rows(5, [40, 9])  # another order, other chunks first
    assert np.array_equal(a[[3, 2]], b) and not np.array_equal(t.rows(6, [3]), a[:1])
    assert not np.array_equal(G.UniformTable(4, 2, "x", chunk=8).rows(5, [3]), a[:1])
    assert (a >= 0).all() and (a < 1).all()


# ------------------------------------------------------------------------------------------- operations


def _image(seed=0, size=48):
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(3, 1, 1, generator=g)
    return (255 * (0.6 * base + 0.4 * torch.rand(3, size, size, generator=g))).to(torch.uint8)


def _params(n, size, **over):
    """Parameters of n whole-image crops with every random choice fixed by ``over``."""
    p = {"box": np.tile([0, 0, size, size], (n, 1)), "jitter": np.zeros(n, bool),
         "factors": np.tile([1.0, 1.0, 1.0, 0.0], (n, 1)), "gray": np.zeros(n, bool), "blur": np.zeros(n, bool),
         "sigma": np.full(n, 1.0), "flip": np.zeros(n, bool)}
    p.update({k: np.asarray(v) for k, v in over.items()})
    return p


def test_jitter_is_torchvisions_operations_in_the_fixed_order():
    from torchvision.transforms.v2 import functional as TF

    imgs = [_image(i) for i in range(3)]
    f = np.array([[0.5, 1.3, 1.6, 0.12], [1.4, 0.6, 0.3, -0.18], [1.0, 1.0, 1.0, 0.0]])
    aug = G.BatchAugment(simclr_spec(48), (0, 0, 0), (1, 1, 1))
    out = aug(imgs, _params(3, 48, jitter=[True, True, False], factors=f))
    for i, img in enumerate(imgs):
        x = img.float() / 255
        b, c, s, h = f[i]
        y = TF.adjust_hue(TF.adjust_saturation(TF.adjust_contrast(TF.adjust_brightness(x, b), c), s), h)
        assert (out[i] - y).abs().max() < 2e-4, i  # hue: kornia's HSV round trip vs torchvision's, float rounding
    # the documented difference: torchvision permutes the four operations per image, which changes the result
    x = imgs[0].float() / 255
    other = TF.adjust_brightness(TF.adjust_hue(TF.adjust_contrast(TF.adjust_saturation(x, 1.6), 1.3), 0.12), 0.5)
    assert (out[0] - other).abs().max() > 0.02


def test_grayscale_blur_and_flip_are_torchvisions():
    from torchvision.transforms.v2 import functional as TF

    imgs = [_image(i) for i in range(4)]
    spec = simclr_spec(48)  # kernel 5 at 48 px
    aug = G.BatchAugment(spec, (0, 0, 0), (1, 1, 1))
    out = aug(imgs, _params(4, 48, gray=[True, False, False, False], blur=[False, True, False, True],
                            sigma=[1.0, 0.7, 1.0, 1.9], flip=[False, False, True, True]))
    x = [img.float() / 255 for img in imgs]
    expect = [TF.rgb_to_grayscale(x[0], num_output_channels=3),
              TF.gaussian_blur(x[1], [spec.blur_kernel] * 2, [0.7, 0.7]), TF.horizontal_flip(x[2]),
              TF.horizontal_flip(TF.gaussian_blur(x[3], [spec.blur_kernel] * 2, [1.9, 1.9]))]
    for i in range(4):  # grayscale: the same ITU-R 601 weights, summed in another order (float rounding)
        assert (out[i] - expect[i]).abs().max() < 2e-4, i


def test_crop_resize_is_torchvisions_and_close_to_pil():
    from PIL import Image
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF1

    img = _image(5, 96)
    box = np.array([[10, 7, 60, 50]])
    ours_ = G.crop_resize([img], box, 32, batched=False)[0]
    pil = TF1.resized_crop(Image.fromarray(img.permute(1, 2, 0).numpy()), 10, 7, 60, 50, [32, 32],
                           interpolation=InterpolationMode.BICUBIC)
    ref = torch.from_numpy(np.array(pil)).permute(2, 0, 1).float() / 255
    # tensor bicubic with antialias against PIL's bicubic: a few grey levels at most, under one on average
    assert (ours_ - ref).abs().mean() < 1 / 255 and (ours_ - ref).abs().max() < 12 / 255


def test_batched_crop_is_grid_samples_bicubic_and_differs_at_the_border():
    """The in-memory batched crop (one ``grid_sample``) resamples with torch's plain bicubic (Keys a = −0.75) where
    the per-image path (torchvision's antialiased kernel) uses PIL's a = −0.5, and it reads the image's real
    neighbours at the crop's border where a crop-then-resize repeats the crop's edge pixel."""
    import torch.nn.functional as F

    imgs = torch.stack([_image(i, 32) for i in range(3)])
    box = np.array([[4, 6, 20, 16], [0, 0, 32, 32], [10, 3, 12, 25]])  # crops that are not shrunk (≤ 32 px)
    batched = G.crop_resize(imgs, box, 32, batched=True)
    x = imgs.float() / 255
    plain = torch.stack([F.interpolate(x[i:i + 1, :, t:t + h, lf:lf + w], size=(32, 32), mode="bicubic",
                                       align_corners=False)[0].clamp(0, 1) for i, (t, lf, h, w) in enumerate(box)])
    # bicubic reaches 2 input pixels: up to 2 · 32/12 ≈ 5.3 output pixels from the border of the 12-px crop
    inner = (slice(None), slice(None), slice(8, -8), slice(8, -8))
    assert (batched - plain)[inner].abs().max() < 1e-5  # same kernel and pixel-centre geometry inside the crop
    assert (batched[0] - plain[0]).abs().max() > 1e-3  # …but not on the border ring of a partial crop
    assert (batched[1] - plain[1]).abs().max() < 1e-5  # the whole image has no outside neighbours
    single = G.crop_resize(list(imgs), box, 32, batched=False)  # PIL's kernel (torchvision, antialias=True)
    assert (batched[1] - single[1]).abs().max() < 1 / 255  # identity crop: only uint8 rounding
    assert 0 < (batched - single).abs().mean() < 0.03  # the a = −0.75 vs −0.5 kernel difference, a few grey levels


def test_views_are_normalised_and_differ():
    spec = simclr_spec(32)
    imgs = [_image(i, 40) for i in range(6)]
    u = G.UniformTable(0, 2, "t").rows(0, np.arange(6))
    aug = G.BatchAugment(spec, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    v1, v2 = (aug(imgs, G.view_params(u[:, v], [40] * 6, [40] * 6, spec)) for v in range(2))
    assert v1.shape == (6, 3, 32, 32) and v1.dtype == torch.float32
    lo = (0 - torch.tensor((0.485, 0.456, 0.406))) / torch.tensor((0.229, 0.224, 0.225))
    hi = (1 - torch.tensor((0.485, 0.456, 0.406))) / torch.tensor((0.229, 0.224, 0.225))
    assert (v1 >= lo.view(1, 3, 1, 1) - 1e-5).all() and (v1 <= hi.view(1, 3, 1, 1) + 1e-5).all()
    assert all(not torch.equal(a, b) for a, b in zip(v1, v2, strict=True))


def test_eval_batch_is_close_to_the_pil_evaluation_transform():
    from PIL import Image

    from monotheory.vision.transforms import eval_transform

    imgs = [_image(i, 120)[:, :100] for i in range(2)]  # 100 × 120 images, resized to 81 then centre-cropped to 72
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    out = G.eval_batch(imgs, 72, 81, mean, std)
    tf = eval_transform(72, mean, std, resize=81)
    ref = torch.stack([tf(Image.fromarray(i.permute(1, 2, 0).numpy())) for i in imgs])
    assert out.shape == ref.shape == (2, 3, 72, 72)
    assert (out - ref).abs().mean() < 0.02  # normalised units (one grey level ≈ 0.016 here)
