"""Metrics of the paper's tables: unsupervised segmentation (FG-ARI, mIoU, FG-mIoU, mBO) on label maps."""

from .segmentation import (
    adjusted_rand_index,
    fg_ari_per_image,
    mbo_per_image,
    miou_per_image,
    segmentation_metrics,
)

__all__ = ["adjusted_rand_index", "fg_ari_per_image", "mbo_per_image", "miou_per_image", "segmentation_metrics"]
