"""fg_ari as an `evaluate` module (see mogent_hf.metrics.segmentation for the definition)."""

# imported as a module: evaluate takes the first Metric class it finds in this namespace
from mogent_hf.metrics import evaluate_support


class FgAri(evaluate_support.SegmentationMetric):
    metric_name = "fg_ari"
