"""Pictures people would rather look at than read: slot label maps coloured over the image, and grids of images."""

from __future__ import annotations

import colorsys

import numpy as np
import PIL.Image
import torch


def slot_palette(num_colours: int) -> torch.Tensor:
    """(num_colours, 3) distinct, saturated colours in [0,1] (evenly spaced hues)."""
    return torch.tensor([colorsys.hsv_to_rgb(i / num_colours, 0.85, 1.0) for i in range(num_colours)])


def overlay_labels(
    images: torch.Tensor, labels: torch.Tensor, alpha: float = 0.55, num_colours: int | None = None
) -> torch.Tensor:
    """Colours each pixel of `images` (B,3,H,W) in [0,1] by its slot in `labels` (B,H,W) long; returns (B,3,H,W).
    Pixels labelled -1 (outside what the model saw) keep their colour. `num_colours` (e.g. the number of slots)
    fixes the palette, so slot k has the same colour in every image."""
    if images.ndim != 4 or labels.shape != (images.shape[0], *images.shape[2:]):
        raise ValueError(f"`labels` must have shape (B,H,W) = {(images.shape[0], *images.shape[2:])}, got "
                         f"{tuple(labels.shape)}")  # fmt: skip
    palette = slot_palette(num_colours or max(int(labels.max()) + 1, 1)).to(images.device, images.dtype)
    colours = palette[labels.clamp(min=0)].permute(0, 3, 1, 2)  # (B,3,H,W)
    seen = (labels >= 0)[:, None]  # (B,1,H,W)
    return torch.where(seen, (1 - alpha) * images + alpha * colours, images)


def image_grid(columns: list[torch.Tensor], scale: int = 1, padding: int = 2) -> PIL.Image.Image:
    """Columns of images (each (B,3,H,W) in [0,1], same shapes) → one PIL image with B rows, white padding."""
    if not columns:
        raise ValueError("`columns` is empty")
    batch, _, height, width = columns[0].shape
    for column in columns:
        if column.shape != columns[0].shape:
            raise ValueError(f"all columns must have shape {tuple(columns[0].shape)}, got {tuple(column.shape)}")
    cell_h, cell_w = height * scale + padding, width * scale + padding
    canvas = np.ones((batch * cell_h + padding, len(columns) * cell_w + padding, 3), np.float32)
    for j, column in enumerate(columns):
        pixels = column.detach().float().clamp(0, 1).cpu()
        if scale > 1:
            pixels = pixels.repeat_interleave(scale, 2).repeat_interleave(scale, 3)
        for i in range(batch):
            top, left = padding + i * cell_h, padding + j * cell_w
            canvas[top : top + height * scale, left : left + width * scale] = pixels[i].permute(1, 2, 0).numpy()
    return PIL.Image.fromarray((canvas * 255).round().astype(np.uint8))


def line_plot(
    series: dict[str, tuple[list[float], list[float]]],
    title: str,
    x_label: str,
    y_label: str,
    log_y: bool = False,
    size: tuple[int, int] = (560, 360),
) -> PIL.Image.Image:
    """A small line chart (no plotting library needed): `series` maps a legend name to (xs, ys); points are marked
    and labelled on the x axis with the union of the xs. `log_y` uses a base-10 logarithmic y axis. `size` is that
    of the plot with a 150 px legend; the image grows wider where a legend name needs more."""
    from PIL import ImageDraw

    points = [(x, y) for xs, ys in series.values() for x, y in zip(xs, ys, strict=True) if y is not None]
    if not points:
        raise ValueError("`series` holds no points")
    if log_y and any(y <= 0 for _, y in points):
        raise ValueError("`log_y` needs positive values")

    def transform(y: float) -> float:
        return float(np.log10(y)) if log_y else float(y)

    xs = sorted({x for x, _ in points})
    low, high = min(transform(y) for _, y in points), max(transform(y) for _, y in points)
    low, high = (low - 0.5, high + 0.5) if high == low else (low - 0.05 * (high - low), high + 0.05 * (high - low))
    width, height = size
    legend = max(150, 45 + max(ImageDraw.Draw(PIL.Image.new("RGB", (1, 1))).textlength(name) for name in series))
    left, right, top, bottom = 70, width - 150, 42, height - 45
    image = PIL.Image.new("RGB", (right + int(np.ceil(legend)), height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((left, 6), title, fill="black")  # the title on the first line, the y label on the second
    draw.rectangle([left, top, right, bottom], outline="black")

    def to_pixel(x: float, y: float) -> tuple[float, float]:
        position = xs.index(x) / max(len(xs) - 1, 1)  # categorical x axis: one slot per distinct x
        return left + position * (right - left), bottom - (transform(y) - low) / (high - low) * (bottom - top)

    label_every = max(1, -(-len(xs) * 40 // (right - left)))  # ≥ 40 px between x labels
    for index, x in enumerate(xs):
        px, _ = to_pixel(x, points[0][1])
        draw.line([px, bottom, px, bottom + 4], fill="black")
        if index % label_every == 0:
            draw.text((px - 10, bottom + 6), f"{x:g}", fill="black")
    for i in range(5):
        value = low + (high - low) * i / 4
        py = bottom - (value - low) / (high - low) * (bottom - top)
        draw.line([left - 4, py, left, py], fill="black")
        draw.text((4, py - 6), f"{10**value:.3g}" if log_y else f"{value:.3g}", fill="black")
    draw.text((left + (right - left) // 2 - 30, height - 18), x_label, fill="black")
    draw.text((4, top - 16), y_label, fill="black")
    palette = (slot_palette(max(len(series), 1)) * 200).round().int().tolist()
    for index, (name, (sx, sy)) in enumerate(series.items()):
        colour = tuple(palette[index])
        pixels = [to_pixel(x, y) for x, y in zip(sx, sy, strict=True) if y is not None]
        if len(pixels) > 1:
            draw.line(pixels, fill=colour, width=2)
        for px, py in pixels:
            draw.ellipse([px - 3, py - 3, px + 3, py + 3], fill=colour)
        draw.line([right + 10, top + 10 + 16 * index, right + 30, top + 10 + 16 * index], fill=colour, width=3)
        draw.text((right + 35, top + 4 + 16 * index), name, fill="black")
    return image
