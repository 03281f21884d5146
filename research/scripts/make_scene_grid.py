"""Draws docs/synthetic_scenes.png: 16 synthetic scenes (8 clevr 64 px, 4 simple clevr, 4 shapes3d) over their masks:
`python research/scripts/make_scene_grid.py`."""

from pathlib import Path

import numpy as np
import PIL.Image

from mogent_hf.data import render_clevr, render_shapes3d

PALETTE = np.random.default_rng(0).integers(40, 256, (32, 3)).astype(np.uint8)
PALETTE[0] = 0

scenes = [render_clevr(0, i, 64) for i in range(8)] + [render_clevr(0, i, 64, simple=True) for i in range(4)]
scenes += [render_shapes3d(0, i) for i in range(4)]
images = np.concatenate([scene.image for scene in scenes], axis=1)
masks = np.concatenate([PALETTE[scene.mask] for scene in scenes], axis=1)
grid = np.concatenate([images, masks], axis=0)
PIL.Image.fromarray(grid).resize((grid.shape[1] * 2, grid.shape[0] * 2), PIL.Image.NEAREST).save(
    Path(__file__).resolve().parents[2] / "docs" / "synthetic_scenes.png"
)
