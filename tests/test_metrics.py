import json

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from mogent_hf.metrics import (
    background_split_per_image,
    background_split_share,
    fg_ari_per_image,
    mbo_per_image,
    miou_per_image,
    segmentation_metrics,
    shared_label_per_image,
    shared_label_share,
)


@pytest.mark.parametrize("seed", range(30))
def test_fg_ari_equals_scikit_learn_on_foreground_pixels(seed):
    rng = np.random.default_rng(seed)
    references = rng.integers(0, rng.integers(2, 6), (3, 12, 12))
    predictions = rng.integers(0, rng.integers(1, 7), (3, 12, 12))
    predictions[0] = references[0] * 3 + (rng.random((12, 12)) < 0.2)  # a correlated one
    ours = fg_ari_per_image(predictions, references)
    for index in range(3):
        foreground = references[index] > 0
        expected = adjusted_rand_score(references[index][foreground], predictions[index][foreground])
        assert abs(ours[index] - expected) < 1e-9


def test_permuting_predicted_slot_ids_changes_no_metric():
    rng = np.random.default_rng(0)
    references = rng.integers(0, 4, (4, 16, 16))
    predictions = rng.integers(0, 5, (4, 16, 16))
    permuted = np.array([3, 0, 4, 1, 2])[predictions]
    assert segmentation_metrics(predictions, references) == segmentation_metrics(permuted, references)


def test_perfect_prediction_scores_one_everywhere():
    references = np.random.default_rng(1).integers(0, 4, (3, 10, 10))
    metrics = segmentation_metrics(references + 7, references)
    assert metrics == {"fg_ari": 1.0, "miou": 1.0, "fg_miou": 1.0, "mbo": 1.0}


def test_hand_computed_miou_and_mbo_on_a_three_object_toy():
    reference = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]])[None]
    prediction = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 2, 2], [2, 2, 2, 2]])[None]
    # bg↔0 IoU 1, obj1↔1 IoU 1, objects 2 and 3 both overlap pred 2 with IoU 4/8; Hungarian gives one of them 0.
    assert miou_per_image(prediction, reference)[0] == pytest.approx((1 + 1 + 0.5 + 0) / 4)
    assert miou_per_image(prediction, reference, foreground_only=True)[0] == pytest.approx((1 + 0.5 + 0) / 3)
    assert mbo_per_image(prediction, reference)[0] == pytest.approx((1 + 0.5 + 0.5) / 3)


def test_images_without_foreground_are_handled_explicitly():
    references = np.zeros((2, 4, 4), int)
    references[1, :2] = 1
    predictions = np.zeros((2, 4, 4), int)
    assert fg_ari_per_image(predictions, references)[0] == 1.0  # undefined ARI scores 1.0 (SlotDiffusion, OCLF)
    assert np.isnan(mbo_per_image(predictions, references)[0])
    assert segmentation_metrics(predictions, references)["mbo"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    "predictions, references, error, match",
    [
        (np.zeros((2, 4, 4), int), np.zeros((2, 4, 5), int), ValueError, "shape"),
        (np.zeros((2, 4, 4)), np.zeros((2, 4, 4), int), TypeError, "integer"),
        (np.zeros((0, 4, 4), int), np.zeros((0, 4, 4), int), ValueError, "empty"),
        (np.zeros((4, 4), int), np.zeros((4, 4), int), ValueError, "B,H,W"),
    ],
)
def test_bad_metric_inputs_raise(predictions, references, error, match):
    with pytest.raises(error, match=match):
        segmentation_metrics(predictions, references)


def test_background_split_counts_labels_holding_at_least_a_tenth_of_the_background():
    references = np.zeros((4, 2, 10), np.int64)
    references[:, 1, 8:] = 1  # two object pixels per image: background = the other 18
    references[3] = 1  # no background at all
    predictions = np.zeros((4, 2, 10), np.int64)
    predictions[0, 1, :8] = 2  # background: 10 pixels label 0, 8 label 2 → split
    predictions[1, 0, 0] = 2  # 17 and 1 (5.6% < 10%) → not split
    predictions[2, 0, :2] = 2  # 16 and 2 (11.1% ≥ 10%) → split
    predictions[3, 0, :5] = 2  # no background → not split
    predictions[:, 1, 8:] = 5  # the object's label does not count (not background)
    expected = np.array([True, False, True, False])
    assert np.array_equal(background_split_per_image(predictions, references), expected)
    assert background_split_share(predictions, references) == 0.5
    assert background_split_per_image(predictions, references, min_share=0.12)[2] == np.False_  # 11.1% < 12%
    with pytest.raises(ValueError, match="`min_share` must lie in"):
        background_split_per_image(predictions, references, min_share=0.6)


def test_objects_share_a_slot_where_one_label_holds_most_of_two_objects():
    references = np.zeros((3, 1, 9), np.int64)
    references[:, 0, 0:3], references[:, 0, 3:6] = 1, 2  # two objects of 3 pixels; pixels 6-8 background
    predictions = np.zeros((3, 1, 9), np.int64)
    predictions[0, 0, 0:3], predictions[0, 0, 3:6] = 4, 7  # one label each → not shared
    predictions[1, 0, 0:6] = 4  # one label over both → shared
    predictions[1, 0, 6:] = 7  # (the background's label does not matter)
    predictions[2, 0, 0:2], predictions[2, 0, 2:6] = 4, 7  # object 1 mostly 4, object 2 all 7 → not shared
    assert np.array_equal(shared_label_per_image(predictions, references), [False, True, False])
    assert shared_label_share(predictions, references) == pytest.approx(1 / 3)
    predictions[2, 0, 0:2] = 7  # now 7 is the main label of both
    assert shared_label_per_image(predictions, references)[2]


# ---- evaluate modules ------------------------------------------------------------------------------------------
def _label_maps(seed, count=6, size=12):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 5, (count, size, size)), rng.integers(0, 4, (count, size, size))


@pytest.mark.parametrize("name", ["fg_ari", "miou", "fg_miou", "mbo"])
def test_evaluate_module_add_batch_equals_one_compute_and_the_function(name):
    import evaluate

    from mogent_hf.metrics.evaluate_support import metric_path

    predictions, references = _label_maps(1)
    metric = evaluate.load(metric_path(name))
    for start in range(0, 6, 2):
        metric.add_batch(predictions=predictions[start : start + 2], references=references[start : start + 2])
    batched = metric.compute()[name]
    single = evaluate.load(metric_path(name)).compute(predictions=predictions, references=references)[name]
    assert batched == pytest.approx(single, abs=1e-12)
    assert single == pytest.approx(segmentation_metrics(predictions, references)[name], abs=1e-12)


def test_evaluate_module_aggregates_two_processes_like_one(tmp_path):
    import subprocess
    import sys

    predictions, references = _label_maps(2)
    np.save(tmp_path / "p.npy", predictions)
    np.save(tmp_path / "r.npy", references)
    script = f"""
import sys, json, numpy as np, evaluate
from mogent_hf.metrics.evaluate_support import metric_path
rank = int(sys.argv[1])
p, r = np.load({str(tmp_path / "p.npy")!r}), np.load({str(tmp_path / "r.npy")!r})
metric = evaluate.load(metric_path("mbo"), num_process=2, process_id=rank, experiment_id="two",
                       cache_dir={str(tmp_path / "cache")!r})
metric.add_batch(predictions=p[rank * 3 : rank * 3 + 3], references=r[rank * 3 : rank * 3 + 3])
print(json.dumps(metric.compute()))
"""
    processes = [subprocess.Popen([sys.executable, "-c", script, str(rank)], stdout=subprocess.PIPE, text=True)
                 for rank in (0, 1)]  # fmt: skip
    outputs = [process.communicate(timeout=120)[0].strip().splitlines()[-1] for process in processes]
    assert outputs[1] == "null"
    assert json.loads(outputs[0])["mbo"] == pytest.approx(segmentation_metrics(predictions, references)["mbo"])


def test_evaluate_module_rejects_an_empty_batch():
    import evaluate

    from mogent_hf.metrics.evaluate_support import metric_path

    with pytest.raises(ValueError):
        evaluate.load(metric_path("fg_ari")).compute(predictions=[], references=[])
    with pytest.raises(ValueError, match="`name` must be one of"):
        metric_path("fid")


# ---- generation metrics -----------------------------------------------------------------------------------------
def test_frechet_distance_matches_a_direct_scipy_computation():
    import scipy.linalg

    from mogent_hf.metrics.generation import feature_statistics, fid_from_features, frechet_distance

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(200, 8)), rng.normal(0.5, 2.0, size=(300, 8)) @ rng.normal(size=(8, 8))
    mu1, s1, mu2, s2 = a.mean(0), np.cov(a.T), b.mean(0), np.cov(b.T)
    direct = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(direct, rel=1e-9)
    assert fid_from_features(a, b) == pytest.approx(direct, rel=1e-9)
    assert fid_from_features(a, a) == pytest.approx(0.0, abs=1e-6)
    assert np.allclose(feature_statistics(a)[1], s1)
    with pytest.raises(ValueError, match="differ in shape"):
        frechet_distance(mu1, s1, mu2[:4], s2[:4, :4])


def test_inception_score_is_one_for_uniform_and_num_classes_for_confident_diverse_predictions():
    from mogent_hf.metrics.generation import inception_score

    assert inception_score(np.full((100, 10), 0.1))[0] == pytest.approx(1.0)
    assert inception_score(np.eye(10).repeat(10, 0), num_splits=1)[0] == pytest.approx(10.0, rel=1e-6)
    with pytest.raises(ValueError, match="num_splits"):
        inception_score(np.full((5, 10), 0.1))


class TinyInception(torch.nn.Module):
    """Random network with the interface of NVIDIA's inception-2015-12-05.pt (features / probabilities)."""

    def __init__(self):
        super().__init__()
        self.features = torch.nn.Conv2d(3, 16, 4, 4)
        self.classes = torch.nn.Linear(16, 10)

    def forward(self, images: torch.Tensor, return_features: bool = False, no_output_bias: bool = False):
        pooled = self.features(images / 255.0).mean((2, 3))
        if return_features:
            return pooled
        logits = pooled @ self.classes.weight.t() if no_output_bias else self.classes(pooled)
        return logits.softmax(-1)


def test_inception_features_from_a_torchscript_file_and_clear_errors(tmp_path):
    from mogent_hf.metrics.generation import InceptionFeatures, fid_from_features, load_torchscript

    torch.manual_seed(0)
    torch.jit.script(TinyInception()).save(str(tmp_path / "inception.pt"))
    extractor = InceptionFeatures(load_torchscript(tmp_path / "inception.pt"), batch_size=3)
    images = torch.rand(8, 3, 32, 32)
    features, probabilities = extractor(images)
    assert features.shape == (8, 16) and probabilities.shape == (8, 10)
    assert np.allclose(probabilities.sum(1), 1.0)
    assert fid_from_features(features, extractor(images)[0]) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(FileNotFoundError, match="network weights not found"):
        load_torchscript(tmp_path / "missing.pt")
    (tmp_path / "bad.pt").write_text("not a network")
    with pytest.raises(ValueError, match="not a TorchScript file"):
        load_torchscript(tmp_path / "bad.pt")


def test_mse_and_lpips_on_identical_and_different_images(tmp_path):
    from mogent_hf.metrics.generation import load_torchscript, lpips_distance, mean_squared_error

    class TinyLPIPS(torch.nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return ((a - b) ** 2).mean((1, 2, 3))

    torch.jit.script(TinyLPIPS()).save(str(tmp_path / "lpips.pt"))
    network = load_torchscript(tmp_path / "lpips.pt")
    images = torch.rand(4, 3, 8, 8)
    assert mean_squared_error(images, images) == 0.0 and lpips_distance(network, images, images) == 0.0
    assert mean_squared_error(images, 1 - images) == pytest.approx(float(((2 * images - 1) ** 2).mean()))
    assert lpips_distance(network, images, 1 - images) == pytest.approx(4 * mean_squared_error(images, 1 - images))
    with pytest.raises(ValueError, match="shapes differ"):
        mean_squared_error(images, images[:2])
