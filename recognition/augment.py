"""Training-time augmentation for height-normalised text-line images.

Input and output are grayscale ``uint8`` arrays of shape ``(H, W)`` with dark
ink on light paper (255 = white). The output keeps ``H``; its width may change
a little (horizontal scale, room for the slant). Everything is numpy + OpenCV
so it is cheap enough to run on every line inside a DataLoader worker, and all
randomness comes from the caller's ``numpy.random.Generator`` so that a seed
reproduces the exact output.

Order of operations, chosen so each step sees what it models:
stroke width (a property of the pen) -> one geometric resampling (affine and
elastic fused so the image is interpolated only once) -> cut-outs (paper
showing through, filled with the paper tone) -> blur (optics) -> contrast,
brightness, gamma (exposure, one lookup table) -> noise (sensor).

Areas a warp exposes and cut-outs are filled with the line's estimated paper
tone rather than 255, since real scans have grey paper and a white wedge at
the edge would be a pattern the model could learn instead of the text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

__all__ = ["AugmentConfig", "augment_line"]


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and strengths for :func:`augment_line`.

    Each ``*_prob`` is the chance that a step is applied to a line; strengths
    are maxima, the actual amount is drawn uniformly (symmetric where a sign
    makes sense). Lengths given as ``*_frac`` are fractions of the line height
    so that the same config behaves the same at 48 or 64 px.
    """

    enabled: bool = True

    # Affine warp: rotation, slant (shear), horizontal scale, vertical shift.
    affine_prob: float = 0.75
    max_rotation_deg: float = 1.5
    # Long lines rotate their ends out of a tight crop; the angle is capped
    # so that the ends move at most this fraction of H up or down.
    max_rotation_edge_shift_frac: float = 0.15
    max_shear: float = 0.3
    scale_x_range: tuple[float, float] = (0.85, 1.15)
    max_translate_y_frac: float = 0.05

    # Elastic distortion: a coarse random displacement grid, upsampled.
    elastic_prob: float = 0.4
    elastic_strength_frac: float = 0.04
    elastic_cell_frac: float = 0.6

    # Stroke width: erode (min filter) thickens dark ink, dilate thins it.
    stroke_prob: float = 0.25
    stroke_kernel_px: int = 2
    # Thinning at full strength would erase 1-px hairlines, so it is only
    # blended in partially; this is the largest blend weight used.
    stroke_thin_max_weight: float = 0.5

    # Cut-outs: small rectangles of paper over the text.
    cutout_prob: float = 0.1
    cutout_max_count: int = 2
    cutout_max_width_frac: float = 0.15
    cutout_max_height_frac: float = 0.5

    # Gaussian blur.
    blur_prob: float = 0.25
    blur_sigma_range: tuple[float, float] = (0.3, 0.8)

    # Contrast (anchored at white, so paper stays the lightest tone),
    # brightness and gamma, all folded into one lookup table.
    tone_prob: float = 0.6
    contrast_range: tuple[float, float] = (0.75, 1.1)
    max_brightness: float = 15.0
    gamma_range: tuple[float, float] = (0.75, 1.35)

    # Additive Gaussian noise; std in grey levels.
    noise_prob: float = 0.3
    noise_max_std: float = 8.0

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if name.endswith("_prob") and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        for name in (
            "scale_x_range",
            "blur_sigma_range",
            "contrast_range",
            "gamma_range",
        ):
            low, high = getattr(self, name)
            if not 0.0 < low <= high:
                raise ValueError(f"{name} must satisfy 0 < low <= high, got {(low, high)}")
        if self.stroke_kernel_px < 1 or self.cutout_max_count < 0:
            raise ValueError("stroke_kernel_px must be >= 1 and cutout_max_count >= 0")


def scaled(config: AugmentConfig, strength: float) -> AugmentConfig:
    """``config`` with every step's probability times ``strength`` (capped at 1); 0 turns augmentation off."""
    if strength < 0:
        raise ValueError(f"augmentation strength must be >= 0, got {strength}")
    probs = {name: min(1.0, value * strength) for name, value in vars(config).items() if name.endswith("_prob")}
    return replace(config, enabled=config.enabled and strength > 0, **probs)


def augment_line(
    image: np.ndarray,
    rng: np.random.Generator,
    config: AugmentConfig = AugmentConfig(),
) -> np.ndarray:
    """Return a randomly augmented copy of a text-line image.

    Args:
        image: ``(H, W)`` uint8, dark ink on light paper.
        rng: source of all randomness; the same generator state gives the
            same output.
        config: which steps to apply and how strongly.

    Returns:
        ``(H, W')`` uint8 with ``W'`` close to ``W``. With ``enabled=False``
        (or an empty image) the input array itself is returned unchanged.
    """
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"expected a 2-D uint8 image, got {image.dtype} {image.shape}")
    if not config.enabled or image.size == 0:
        return image

    out = image

    if rng.random() < config.stroke_prob:
        out = _stroke_width(out, rng, config)

    do_affine = rng.random() < config.affine_prob
    do_elastic = rng.random() < config.elastic_prob
    if do_affine or do_elastic:
        out = _geometry(out, rng, config, do_affine, do_elastic)

    if config.cutout_max_count > 0 and rng.random() < config.cutout_prob:
        out = _cutouts(out, rng, config)

    if rng.random() < config.blur_prob:
        sigma = float(rng.uniform(*config.blur_sigma_range))
        out = cv2.GaussianBlur(out, (0, 0), sigmaX=sigma, sigmaY=sigma)

    if rng.random() < config.tone_prob:
        out = cv2.LUT(out, _tone_table(rng, config))

    if rng.random() < config.noise_prob and config.noise_max_std > 0:
        std = float(rng.uniform(0.0, config.noise_max_std))
        noise = rng.standard_normal(out.shape, dtype=np.float32)
        noise *= std
        noise += out
        out = np.clip(noise, 0, 255, out=noise).astype(np.uint8)

    if out is image:
        # Steps were all skipped; hand back a copy so callers may mutate it.
        out = image.copy()
    return out


def _stroke_width(image: np.ndarray, rng: np.random.Generator, config: AugmentConfig) -> np.ndarray:
    """Thicken or thin dark strokes. ``(H, W)`` -> ``(H, W)``."""
    kernel = np.ones((config.stroke_kernel_px, config.stroke_kernel_px), np.uint8)
    if rng.random() < 0.5:
        return cv2.erode(image, kernel)
    weight = float(rng.uniform(0.5, 1.0) * config.stroke_thin_max_weight)
    thinned = cv2.dilate(image, kernel)
    return cv2.addWeighted(thinned, weight, image, 1.0 - weight, 0.0)


def _geometry(
    image: np.ndarray,
    rng: np.random.Generator,
    config: AugmentConfig,
    do_affine: bool,
    do_elastic: bool,
) -> np.ndarray:
    """Affine warp and/or elastic distortion in one resampling.

    ``(H, W)`` -> ``(H, W')``: the width follows the horizontal scale and
    grows by ``|shear| * H`` so that slanted ascenders at the ends stay in
    frame.
    """
    height, width = image.shape
    paper = _paper_tone(image)
    forward = np.eye(3, dtype=np.float64)  # 3x3, tiny: precision is free here
    out_width = width
    if do_affine:
        # Small angle: the end of the line moves by ~ angle * W / 2.
        edge_cap = math.atan2(config.max_rotation_edge_shift_frac * height, max(width, 1) / 2)
        max_angle = min(math.radians(config.max_rotation_deg), edge_cap)
        angle = float(rng.uniform(-max_angle, max_angle))
        shear = float(rng.uniform(-config.max_shear, config.max_shear))
        scale_x = float(rng.uniform(*config.scale_x_range))
        shift_y = float(rng.uniform(-1.0, 1.0)) * config.max_translate_y_frac * height
        out_width = max(1, round(width * scale_x + abs(shear) * height))

        cos_a, sin_a = math.cos(angle), math.sin(angle)
        to_origin = np.array([[1, 0, -(width - 1) / 2], [0, 1, -(height - 1) / 2], [0, 0, 1]])
        scale = np.diag([scale_x, 1.0, 1.0])
        # x += shear * y: a slant about the vertical centre.
        slant = np.array([[1, shear, 0], [0, 1, 0], [0, 0, 1]])
        rotate = np.array([[cos_a, -sin_a, 0], [sin_a, cos_a, 0], [0, 0, 1]])
        to_output = np.array([[1, 0, (out_width - 1) / 2], [0, 1, (height - 1) / 2 + shift_y], [0, 0, 1]])
        forward = to_output @ rotate @ slant @ scale @ to_origin

    if not do_elastic:
        return cv2.warpAffine(
            image,
            forward[:2],
            (out_width, height),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=paper,
        )

    # Sampling maps: output pixel -> source position (inverse affine), plus a
    # smooth displacement from a coarse random grid.
    inverse = np.linalg.inv(forward)[:2].astype(np.float32)
    xs = np.arange(out_width, dtype=np.float32)[None, :]
    ys = np.arange(height, dtype=np.float32)[:, None]
    map_x = xs * inverse[0, 0] + (ys * inverse[0, 1] + inverse[0, 2])
    map_y = xs * inverse[1, 0] + (ys * inverse[1, 1] + inverse[1, 2])

    cell = max(2.0, config.elastic_cell_frac * height)
    grid_h = max(2, math.ceil(height / cell) + 1)
    grid_w = max(2, math.ceil(out_width / cell) + 1)
    strength = config.elastic_strength_frac * height
    coarse = rng.uniform(-strength, strength, size=(2, grid_h, grid_w)).astype(np.float32)
    map_x += cv2.resize(coarse[0], (out_width, height), interpolation=cv2.INTER_CUBIC)
    map_y += cv2.resize(coarse[1], (out_width, height), interpolation=cv2.INTER_CUBIC)
    return cv2.remap(
        image,
        map_x,
        map_y,
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=paper,
    )


def _cutouts(image: np.ndarray, rng: np.random.Generator, config: AugmentConfig) -> np.ndarray:
    """Paint a few small paper-coloured rectangles. ``(H, W)`` -> ``(H, W)``."""
    height, width = image.shape
    paper = _paper_tone(image)
    out = image.copy()
    for _ in range(int(rng.integers(1, config.cutout_max_count + 1))):
        box_w = max(1, round(rng.uniform(0.3, 1.0) * config.cutout_max_width_frac * height))
        box_h = max(1, round(rng.uniform(0.3, 1.0) * config.cutout_max_height_frac * height))
        x0 = int(rng.integers(0, max(1, width - box_w + 1)))
        y0 = int(rng.integers(0, max(1, height - box_h + 1)))
        out[y0 : y0 + box_h, x0 : x0 + box_w] = paper
    return out


def _paper_tone(image: np.ndarray) -> int:
    """Estimate the paper grey level of an ``(H, W)`` line: its 90th percentile.

    Real scans have grey paper, so pure-white fill (warp borders, cut-outs)
    would be an easy tell; a strided sample keeps this to a few microseconds.
    """
    sample = image[::4, ::4].ravel()
    rank = (9 * (sample.size - 1)) // 10
    return int(np.partition(sample, rank)[rank])


def _tone_table(rng: np.random.Generator, config: AugmentConfig) -> np.ndarray:
    """Lookup table (256,) uint8 for gamma, then contrast and brightness.

    Gamma keeps 0 and 255 fixed; contrast scales the distance from white, so
    ink lightens or darkens while paper stays the lightest tone and the
    polarity never flips.
    """
    low, high = config.gamma_range
    gamma = math.exp(rng.uniform(math.log(low), math.log(high)))
    contrast = float(rng.uniform(*config.contrast_range))
    brightness = float(rng.uniform(-config.max_brightness, config.max_brightness))
    levels = np.arange(256, dtype=np.float32) / 255.0
    levels = 255.0 * np.power(levels, np.float32(gamma))
    levels = 255.0 - (255.0 - levels) * np.float32(contrast) + np.float32(brightness)
    return np.clip(np.rint(levels), 0, 255).astype(np.uint8)
