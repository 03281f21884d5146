"""Metrics of the paper's tables: unsupervised segmentation (FG-ARI, mIoU, FG-mIoU, mBO) on label maps; the share of
images whose background is split over several slots, and of images in which two objects share a slot."""

from .segmentation import (
    adjusted_rand_index,
    background_split_per_image,
    background_split_share,
    fg_ari_per_image,
    mbo_per_image,
    miou_per_image,
    segmentation_metrics,
    shared_label_per_image,
    shared_label_share,
)

__all__ = [
    "adjusted_rand_index",
    "background_split_per_image",
    "background_split_share",
    "fg_ari_per_image",
    "mbo_per_image",
    "miou_per_image",
    "segmentation_metrics",
    "shared_label_per_image",
    "shared_label_share",
]
