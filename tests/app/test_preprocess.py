"""The app's preprocessing, reproduced: squish (no crop) with the `image` package's nearest neighbour,
/255, mean/std, CHW."""

from __future__ import annotations

import numpy as np
from PIL import Image

from paddy_edge.phone.preprocess import app_input, softmax, squish_nearest


def test_nearest_takes_floor_of_scaled_coordinates() -> None:
    grid = np.arange(4 * 6).reshape(4, 6)
    assert squish_nearest(grid, 3, 2).tolist() == [[0, 2, 4], [12, 14, 16]]
    assert squish_nearest(grid, 12, 8)[7, 11] == grid[3, 5]


def test_a_portrait_photo_is_squished_whole_not_cropped() -> None:
    pixels = np.zeros((640, 480, 3), dtype=np.uint8)
    pixels[:10] = 255  # a white band at the very top survives: nothing is cropped away
    tensor = app_input(Image.fromarray(pixels), 32, 32, (0, 0, 0), (1, 1, 1))
    assert tensor.shape == (3, 32, 32) and tensor.dtype == np.float32
    assert tensor[:, 0].min() == 1.0 and tensor[:, 1:].max() == 0.0


def test_normalization_uses_the_given_mean_and_std() -> None:
    image = Image.new("RGB", (8, 8), (255, 0, 51))
    tensor = app_input(image, 4, 4, (0.5, 0.5, 0.2), (0.5, 0.25, 0.1))
    assert np.allclose(tensor[:, 0, 0], [1.0, -2.0, 0.0])


def test_softmax_rows_sum_to_one() -> None:
    probabilities = softmax(np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, 0.0]]))
    assert np.allclose(probabilities.sum(axis=1), 1.0) and probabilities[1, 0] == 1.0
