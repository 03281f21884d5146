"""The segmentation metrics as `evaluate` modules: `evaluate.load(metric_path("fg_ari"))`, then `add_batch` /
`compute`, across processes with evaluate's `num_process` / `process_id`. Each module in `evaluate_modules/` is a
subclass of `SegmentationMetric` naming its per-image function; label maps may differ in size between images."""

from __future__ import annotations

from pathlib import Path

import datasets
import evaluate
import numpy as np

from . import segmentation

MODULES_DIR = Path(__file__).resolve().parent / "evaluate_modules"
PER_IMAGE = {
    "fg_ari": segmentation.fg_ari_per_image,
    "miou": segmentation.miou_per_image,
    "fg_miou": lambda predictions, references: segmentation.miou_per_image(predictions, references, True),
    "mbo": segmentation.mbo_per_image,
}
_INPUTS = """
Args:
    predictions: predicted label maps, (B,H,W) integers (argmax over slots), or a list of (H,W) maps.
    references: ground-truth label maps of the same shapes, background = 0.
Returns:
    {"<name>": mean over images of the per-image value (images where it is undefined are skipped)}.
"""


def metric_path(name: str) -> str:
    """Path of the `evaluate` module of `name` ("fg_ari", "miou", "fg_miou" or "mbo") for `evaluate.load`."""
    if name not in PER_IMAGE:
        raise ValueError(f"`name` must be one of {tuple(PER_IMAGE)}, got {name!r}")
    return str(MODULES_DIR / name)


class SegmentationMetric(evaluate.Metric):
    """Base of the segmentation metric modules; subclasses set `metric_name`."""

    metric_name: str = ""

    def _info(self) -> evaluate.MetricInfo:
        label_map = datasets.Sequence(datasets.Sequence(datasets.Value("int32")))
        return evaluate.MetricInfo(
            description=segmentation.__doc__,
            citation="",
            inputs_description=_INPUTS,
            features=datasets.Features({"predictions": label_map, "references": label_map}),
        )

    def _compute(self, predictions, references) -> dict[str, float]:
        if len(predictions) == 0:
            raise ValueError("empty batch: no label maps were added")
        per_image = PER_IMAGE[self.metric_name]
        values = np.array([
            per_image(np.asarray(p, np.int64)[None], np.asarray(r, np.int64)[None])[0]
            for p, r in zip(predictions, references, strict=True)
        ])  # fmt: skip
        return {self.metric_name: float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")}
