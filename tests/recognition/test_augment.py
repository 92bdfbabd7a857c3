"""Tests for recognition.augment: shape, determinism, polarity and robustness."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from recognition.augment import AugmentConfig, augment_line

# Every step on, so the tests exercise all code paths on every call.
ALL_STEPS = AugmentConfig(
    affine_prob=1.0,
    elastic_prob=1.0,
    stroke_prob=1.0,
    cutout_prob=1.0,
    blur_prob=1.0,
    tone_prob=1.0,
    noise_prob=1.0,
)
NO_STEPS = AugmentConfig(
    affine_prob=0.0,
    elastic_prob=0.0,
    stroke_prob=0.0,
    cutout_prob=0.0,
    blur_prob=0.0,
    tone_prob=0.0,
    noise_prob=0.0,
)


def _text_line(height: int = 48, width: int = 400) -> np.ndarray:
    """Synthetic printed line, ``(height, width)`` uint8, black on white."""
    image = np.full((height, width), 255, np.uint8)
    cv2.putText(
        image,
        "Lineproof quick brown fox",
        (4, int(height * 0.7)),
        cv2.FONT_HERSHEY_SIMPLEX,
        height / 48,
        0,
        2,
        cv2.LINE_AA,
    )
    return image


@pytest.mark.parametrize("config", [AugmentConfig(), ALL_STEPS], ids=["default", "all_steps"])
def test_output_keeps_dtype_height_and_roughly_width(config: AugmentConfig) -> None:
    image = _text_line()
    rng = np.random.default_rng(0)
    for _ in range(30):
        out = augment_line(image, rng, config)
        assert out.dtype == np.uint8
        assert out.ndim == 2
        assert out.shape[0] == image.shape[0]
        # Horizontal scale 0.85-1.15 plus up to |shear| * H of slant room.
        assert 0.8 * image.shape[1] <= out.shape[1] <= 1.2 * image.shape[1] + 0.3 * image.shape[0]


def test_same_seed_gives_same_output() -> None:
    image = _text_line()
    first = augment_line(image, np.random.default_rng(123), ALL_STEPS)
    second = augment_line(image, np.random.default_rng(123), ALL_STEPS)
    np.testing.assert_array_equal(first, second)


def test_different_seeds_give_different_outputs() -> None:
    image = _text_line()
    outputs = [augment_line(image, np.random.default_rng(seed), ALL_STEPS) for seed in range(5)]
    for i in range(len(outputs)):
        for j in range(i + 1, len(outputs)):
            a, b = outputs[i], outputs[j]
            assert a.shape != b.shape or not np.array_equal(a, b)


def test_disabled_returns_input_unchanged() -> None:
    image = _text_line()
    before = image.copy()
    out = augment_line(image, np.random.default_rng(0), AugmentConfig(enabled=False))
    np.testing.assert_array_equal(out, before)
    np.testing.assert_array_equal(image, before)


def test_no_steps_drawn_returns_equal_copy() -> None:
    image = _text_line()
    out = augment_line(image, np.random.default_rng(0), NO_STEPS)
    np.testing.assert_array_equal(out, image)
    assert out is not image


def test_input_is_not_modified() -> None:
    image = _text_line()
    before = image.copy()
    augment_line(image, np.random.default_rng(0), ALL_STEPS)
    np.testing.assert_array_equal(image, before)


@pytest.mark.parametrize("config", [AugmentConfig(), ALL_STEPS], ids=["default", "all_steps"])
def test_ink_stays_dark_on_light(config: AugmentConfig) -> None:
    image = _text_line()
    rng = np.random.default_rng(7)
    for _ in range(50):
        out = augment_line(image, rng, config)
        assert abs(float(out.mean()) - float(image.mean())) < 40
        # Paper (the bulk) stays light and ink stays clearly darker than it.
        paper, ink = np.percentile(out, [50, 1])
        assert paper > 180
        assert paper - ink > 70


@pytest.mark.parametrize("shape", [(48, 1), (48, 2), (48, 4000), (8, 100), (8, 1), (1, 50)])
def test_extreme_shapes_do_not_crash(shape: tuple[int, int]) -> None:
    image = np.full(shape, 255, np.uint8)
    image[:, ::3] = 0
    rng = np.random.default_rng(1)
    for _ in range(5):
        out = augment_line(image, rng, ALL_STEPS)
        assert out.dtype == np.uint8
        assert out.shape[0] == shape[0]
        assert out.shape[1] >= 1


def test_empty_image_is_returned_as_is() -> None:
    image = np.zeros((48, 0), np.uint8)
    assert augment_line(image, np.random.default_rng(0)).shape == (48, 0)


def test_blank_image_stays_almost_blank() -> None:
    image = np.full((48, 400), 255, np.uint8)
    rng = np.random.default_rng(3)
    for _ in range(30):
        out = augment_line(image, rng, ALL_STEPS)
        median = float(np.median(out))
        assert median > 200
        # Noise only: nothing that could read as a stroke.
        assert float(out.std()) < 12
        assert float(np.percentile(out, 0.5)) > median - 40


def test_rejects_non_grayscale_uint8() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="2-D uint8"):
        augment_line(np.zeros((48, 10, 3), np.uint8), rng)
    with pytest.raises(ValueError, match="2-D uint8"):
        augment_line(np.zeros((48, 10), np.float32), rng)


def test_config_rejects_bad_probability() -> None:
    with pytest.raises(ValueError, match="blur_prob must be in"):
        AugmentConfig(blur_prob=1.5)
    with pytest.raises(ValueError, match="scale_x_range must satisfy"):
        AugmentConfig(scale_x_range=(1.2, 0.8))
