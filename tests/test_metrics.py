import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from mogent_hf.metrics import fg_ari_per_image, mbo_per_image, miou_per_image, segmentation_metrics


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
