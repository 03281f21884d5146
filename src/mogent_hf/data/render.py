"""Seeded renderers of synthetic object scenes with ground-truth masks (numpy only).

- `render_clevr`: 3–10 objects (sphere, cube, cylinder; 2 sizes; 8 CLEVR colours; rubber or metal) on a
  perspective ground plane, nearer objects drawn last (occlusion), soft shadows (not in the masks), instance
  masks with background = 0. `simple=True` gives the sanity-stage variant: flat colours on a uniform background,
  no shading, shadows, gradient or noise.
- `render_shapes3d`: one object (cube, cylinder, sphere, capsule) on a floor in front of a wall, from the six
  factors of DeepMind's 3D Shapes (floor hue, wall hue, object hue, scale, shape, orientation); 3-class mask
  0 = floor, 1 = wall, 2 = object.

Every scene is a pure function of (seed, index): the same arguments give byte-identical images, and nothing
is kept between calls, so datasets of any size are generated lazily with flat memory.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

CLEVR_COLOURS = {
    "gray": (87, 87, 87),
    "red": (173, 35, 35),
    "blue": (42, 75, 215),
    "green": (29, 105, 20),
    "brown": (129, 74, 25),
    "purple": (129, 38, 192),
    "cyan": (41, 208, 208),
    "yellow": (255, 238, 51),
}
CLEVR_SHAPES = ("sphere", "cube", "cylinder")
CLEVR_SIZES = {"small": 0.35, "large": 0.7}
CLEVR_MATERIALS = ("rubber", "metal")
SIZE_NAMES, COLOUR_NAMES = tuple(CLEVR_SIZES), tuple(CLEVR_COLOURS)
SHAPES3D_SHAPES = ("cube", "cylinder", "sphere", "capsule")
SHAPES3D_FACTORS = {"floor_hue": 10, "wall_hue": 10, "object_hue": 10, "scale": 8, "shape": 4, "orientation": 15}
SHAPES3D_SIZE = int(np.prod(list(SHAPES3D_FACTORS.values())))  # 480,000 as the real dataset
LIGHT = np.array([-0.5, -0.6, 0.62]) / np.linalg.norm([-0.5, -0.6, 0.62])  # from the upper left, towards viewer


@dataclass
class Scene:
    """image uint8 (H,W,3); mask uint8 (H,W) (instance ids, 0 = background; 3-class for shapes3d); labels."""

    image: np.ndarray
    mask: np.ndarray
    labels: dict


def check_resolution(resolution: int) -> None:
    if not isinstance(resolution, int) or resolution < 16 or resolution % 4:
        raise ValueError(f"`resolution` must be an integer >= 16 divisible by 4, got {resolution!r}")


@lru_cache(maxsize=8)
def _grid(resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in [0,1): rows (H,1), columns (1,W)."""
    coords = (np.arange(resolution, dtype=np.float32) + 0.5) / resolution
    return coords[:, None], coords[None, :]


@lru_cache(maxsize=8)
def _ground(resolution: int) -> np.ndarray:
    """CLEVR-like grey ground: brighter towards the horizon, slight vignette. (H,W,3) float32."""
    rows, cols = _grid(resolution)
    shade = 0.62 - 0.16 * rows - 0.06 * (cols - 0.5) ** 2
    return np.repeat(shade[..., None], 3, axis=2).astype(np.float32) * np.array([1.0, 1.0, 1.02], np.float32)


def _box(cy: float, cx: float, half_h: float, half_w: float, resolution: int) -> tuple[slice, slice]:
    top, bottom = int(max(0, (cy - half_h) * resolution)), int(min(resolution, np.ceil((cy + half_h) * resolution)))
    left, right = int(max(0, (cx - half_w) * resolution)), int(min(resolution, np.ceil((cx + half_w) * resolution)))
    return slice(top, max(top, bottom)), slice(left, max(left, right))


def _shade(base: np.ndarray, lambert: np.ndarray, metal: bool, flat: bool) -> np.ndarray:
    """Colour (3,) × diffuse term + a specular highlight for metal → (h,w,3)."""
    if flat:
        return np.broadcast_to(base, lambert.shape + (3,))
    diffuse = 0.35 + 0.65 * np.clip(lambert, 0, 1)
    colour = base * diffuse[..., None]
    highlight = np.clip(lambert, 0, 1) ** (40 if metal else 8) * (0.9 if metal else 0.25)
    return colour + highlight[..., None]


def _draw_object(image, mask, kind, cy, cx, radius, colour, metal, object_id, resolution, flat):
    """Draws one object whose ground contact point is (cy, cx) (fractions of the image), size `radius`."""
    rows, cols = _grid(resolution)
    if kind == "sphere":
        ys, xs = _box(cy - radius, cx, radius, radius, resolution)
        dy, dx = (rows[ys] - (cy - radius)) / radius, (cols[:, xs] - cx) / radius
        inside = dy**2 + dx**2 <= 1
        dz = np.sqrt(np.clip(1 - dy**2 - dx**2, 0, 1))
        lambert = LIGHT[0] * dx + LIGHT[1] * dy + LIGHT[2] * dz
    elif kind == "cube":
        side = radius * 1.6
        lift = side * 0.35  # visible top face height
        ys, xs = _box(cy - (side + lift) / 2, cx + lift / 2, (side + lift) / 2, side / 2 + lift / 2, resolution)
        y, x = rows[ys] - (cy - side), cols[:, xs] - (cx - side / 2)  # origin: front face top-left
        front = (y >= 0) & (y <= side) & (x >= 0) & (x <= side)
        top = (y < 0) & (y >= -lift) & (x >= -y) & (x <= side - y)
        right = (x > side) & (x <= side + lift) & (y >= -(x - side)) & (y <= side - (x - side))
        inside = front | top | right
        lambert = np.where(top, 0.95, np.where(right, 0.45, 0.7)).astype(np.float32)
    else:  # cylinder
        half_w, height = radius * 0.85, radius * 1.7
        cap = half_w * 0.35
        ys, xs = _box(cy - height / 2, cx, height / 2 + cap, half_w, resolution)
        y, x = rows[ys] - (cy - height), (cols[:, xs] - cx) / half_w
        body = (y >= 0) & (y <= height + cap * np.sqrt(np.clip(1 - x**2, 0, 1)) - cap) & (np.abs(x) <= 1)
        top = (x**2 + (y / cap) ** 2) <= 1
        inside = body | top
        lambert = np.where(top, 0.95, 0.75 * np.sqrt(np.clip(1 - x**2, 0, 1)) - 0.35 * x).astype(np.float32)
        lambert = np.broadcast_to(lambert, inside.shape)
    image[ys, xs][inside] = _shade(colour, lambert, metal, flat)[inside]  # views: writes into image and mask
    mask[ys, xs][inside] = object_id


def _draw_shadow(image, cy, cx, radius, resolution):
    """Soft dark ellipse on the ground, offset away from the light."""
    rows, cols = _grid(resolution)
    sy, sx = cy - radius * 0.1, cx + radius * 0.7
    ys, xs = _box(sy, sx, radius * 0.6, radius * 1.5, resolution)
    distance = ((rows[ys] - sy) / (radius * 0.6)) ** 2 + ((cols[:, xs] - sx) / (radius * 1.5)) ** 2
    darkness = 0.45 * np.clip(1 - distance, 0, 1) ** 1.5
    image[ys, xs] *= (1 - darkness)[..., None]


def render_clevr(
    seed: int,
    index: int,
    resolution: int = 64,
    min_objects: int = 3,
    max_objects: int = 10,
    simple: bool = False,
) -> Scene:
    """One CLEVR-like scene, a pure function of (seed, index). Labels: num_objects, visible_objects, and per
    object (in mask-id order) shape, size, color, material."""
    check_resolution(resolution)
    if not 1 <= min_objects <= max_objects <= 20:
        raise ValueError(f"need 1 <= min_objects <= max_objects <= 20, got {min_objects} and {max_objects}")
    rng = np.random.default_rng([seed, index])
    count = int(rng.integers(min_objects, max_objects + 1))
    image = np.full((resolution, resolution, 3), 0.5, np.float32) if simple else _ground(resolution).copy()
    mask = np.zeros((resolution, resolution), np.uint8)
    placed: list[tuple[float, float, float]] = []
    objects = []
    for _ in range(count):
        for _attempt in range(30):
            depth = rng.uniform(0.0, 1.0)  # 0 = far, 1 = near
            scale = 0.55 + 0.45 * depth  # perspective: nearer is larger and lower
            size = SIZE_NAMES[rng.integers(2)]
            radius = CLEVR_SIZES[size] * 0.15 * scale
            cy, cx = 0.35 + 0.55 * depth, rng.uniform(0.1, 0.9)
            if all(abs(cx - x) > 0.7 * (radius + r) or abs(cy - y) > 0.7 * (radius + r) for y, x, r in placed):
                break
        placed.append((cy, cx, radius))
        objects.append(
            dict(
                cy=cy,
                cx=cx,
                radius=radius,
                shape=CLEVR_SHAPES[rng.integers(3)],
                size=size,
                color=COLOUR_NAMES[rng.integers(8)],
                material=CLEVR_MATERIALS[rng.integers(2)],
            )
        )
    objects.sort(key=lambda item: item["cy"])  # far (high on screen) first; nearer ones occlude them
    if not simple:
        for item in objects:
            _draw_shadow(image, item["cy"], item["cx"], item["radius"], resolution)
    for object_id, item in enumerate(objects, start=1):
        colour = np.array(CLEVR_COLOURS[item["color"]], np.float32) / 255
        metal = item["material"] == "metal"
        _draw_object(image, mask, item["shape"], item["cy"], item["cx"], item["radius"], colour, metal,
                     object_id, resolution, simple)  # fmt: skip
    if not simple:
        image += 0.01 * rng.standard_normal(image.shape, dtype=np.float32)
    visible = np.unique(mask)
    labels = dict(
        num_objects=count,
        visible_objects=int((visible > 0).sum()),
        shape=[item["shape"] for item in objects],
        size=[item["size"] for item in objects],
        color=[item["color"] for item in objects],
        material=[item["material"] for item in objects],
    )
    return Scene((np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8), mask, labels)


def shapes3d_factors(index: int) -> dict[str, int]:
    """Index in [0, 480000) → factor values, mixed radix in the order of DeepMind's `labels` columns."""
    if not 0 <= index < SHAPES3D_SIZE:
        raise ValueError(f"`index` must be in [0, {SHAPES3D_SIZE}), got {index}")
    factors = {}
    for name, count in reversed(SHAPES3D_FACTORS.items()):
        index, factors[name] = divmod(index, count)
    return {name: factors[name] for name in SHAPES3D_FACTORS}


@lru_cache(maxsize=4)
def _shapes3d_order(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(SHAPES3D_SIZE)


def render_shapes3d(seed: int, index: int, resolution: int = 64) -> Scene:
    """One 3D-Shapes-like scene. `index` picks the factors (as in the real dataset's order), `seed` permutes
    which index comes at which position. Labels: the six factor indices."""
    check_resolution(resolution)
    factors = shapes3d_factors(int(_shapes3d_order(seed)[index]))
    rows, cols = _grid(resolution)

    def hue(value: int) -> np.ndarray:
        return np.array(colorsys.hsv_to_rgb(value / 10, 0.75, 0.9), np.float32)

    horizon = 0.55
    image = np.empty((resolution, resolution, 3), np.float32)
    floor = rows >= horizon + 0.04 * (cols - 0.5)
    floor = np.broadcast_to(floor, (resolution, resolution))
    wall_shade = 0.8 + 0.2 * cols
    floor_shade = 0.75 + 0.25 * (rows - horizon) / (1 - horizon)
    image[:] = hue(factors["wall_hue"]) * np.broadcast_to(wall_shade, (resolution, resolution))[..., None]
    image[floor] = (hue(factors["floor_hue"]) * np.broadcast_to(floor_shade, (resolution, resolution))[..., None])[
        floor
    ]
    mask = np.where(floor, 0, 1).astype(np.uint8)
    scale = 0.75 + 0.5 * factors["scale"] / 7
    radius = 0.13 * scale
    shape = SHAPES3D_SHAPES[factors["shape"]]
    colour = hue(factors["object_hue"])
    object_mask = np.zeros_like(mask)
    tilt = (factors["orientation"] / 14 - 0.5) * 0.5
    drawn = "cylinder" if shape == "capsule" else shape
    _draw_object(image, object_mask, drawn, 0.8, 0.5 + tilt * radius, radius, colour, False, 1, resolution, False)
    if shape == "capsule":  # a cylinder with a rounded top
        _draw_object(image, object_mask, "sphere", 0.8 - radius * 0.95, 0.5 + tilt * radius, radius * 0.85, colour,
                     False, 1, resolution, False)  # fmt: skip
    mask[object_mask > 0] = 2
    return Scene((np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8), mask, dict(factors))


RENDERERS = {"clevr": render_clevr, "shapes3d": render_shapes3d}
