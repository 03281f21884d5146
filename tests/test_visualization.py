import numpy as np
import pytest
import torch

from mogent_hf.visualization import image_grid, line_plot, overlay_labels, slot_palette


def test_overlay_blends_each_pixel_with_its_slot_colour():
    images = torch.zeros(1, 3, 2, 2)
    labels = torch.tensor([[[0, 1], [1, 0]]])
    overlay = overlay_labels(images, labels, alpha=1.0)
    palette = slot_palette(2)
    assert torch.allclose(overlay[0, :, 0, 1], palette[1]) and torch.allclose(overlay[0, :, 0, 0], palette[0])
    with pytest.raises(ValueError, match="labels"):
        overlay_labels(images, labels[:, :1])
    fixed = overlay_labels(images, labels, alpha=1.0, num_colours=7)  # slot 1's colour whatever the image holds
    assert torch.allclose(fixed[0, :, 0, 1], slot_palette(7)[1])


def test_image_grid_places_columns_side_by_side_with_padding():
    white, black = torch.ones(2, 3, 4, 4), torch.zeros(2, 3, 4, 4)
    grid = image_grid([white, black], scale=2, padding=1)
    assert grid.size == (2 * (8 + 1) + 1, 2 * (8 + 1) + 1)
    assert grid.getpixel((1 + 9, 1)) == (0, 0, 0) and grid.getpixel((1, 1)) == (255, 255, 255)
    with pytest.raises(ValueError, match="shape"):
        image_grid([white, black[:1]])


def test_line_plot_draws_series_and_rejects_bad_input():
    plot = line_plot({"a": ([1, 2], [0.1, 10.0]), "b": ([1, 2], [1.0, None])}, "t", "x", "y", log_y=True)
    assert plot.size == (560, 360) and len(set(plot.getdata())) > 2
    with pytest.raises(ValueError, match="positive"):
        line_plot({"a": ([1], [0.0])}, "t", "x", "y", log_y=True)
    with pytest.raises(ValueError, match="no points"):
        line_plot({}, "t", "x", "y")


def test_line_plot_widens_for_a_long_legend_name_instead_of_cutting_it():
    name = "RB-stage2-full-3-6-mixture-background-slot-from-R1"
    plot = line_plot({name: ([1, 2], [0.1, 0.2])}, "t", "x", "y")
    text_end = np.nonzero((np.asarray(plot).max(2) < 128).any(0))[0].max()  # anti-aliased text: its dark pixels
    assert plot.width > 560 and plot.height == 360
    assert 560 < text_end < plot.width - 5  # the name's last letter lies past the requested width, inside the image
