"""Where a trained MOGENT pipeline's slot masks lose against the ground truth, on held-out synthetic scenes:

1. best IoU of each ground-truth object by its area, against the token-grid oracle of
   `measure_token_grid_ceiling.py` (the best masks there are at the model's token grid, background weight 0.6);
2. FG-ARI and mBO by the number of visible objects, and how many slots hold background only (> 80% of their
   pixels), i.e. how many are left for the objects; which slots the background pixels go to (share per slot); how
   often two objects share a slot (the slot that holds most of each), for pairs of one colour and of two colours,
   and how much of each object its main slot holds (objects split between slots); the share of scenes in which a
   slot (a floor band or not) is the main slot of two or more objects (the issue's "no more than 10%" measure);
3. masks from another source: the decoder's cross-attention over the slots (heads averaged; per block and the
   blocks' mean), the decoder fed the image's tokens with a fraction masked, against Slot Attention's masks; for a
   model trained with the mixture loss, also that mixture's posterior (which slot explains each token). MOGENT
   only: SLATE's causal decoder is not read with masked inputs, so a SLATE pipeline gets parts 1 and 2.

    python research/scripts/measure_mask_errors.py checkpoints/mogent-small-full
    python research/scripts/measure_mask_errors.py runs/C-mogent --simple --min_objects 2 --max_objects 4
    python research/scripts/measure_mask_errors.py runs/C-slate --simple --min_objects 2 --max_objects 4 \
        --mask_ratios 1.0
"""

from __future__ import annotations

import argparse
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from held_out_scenes import add_scene_arguments, held_out_scenes
from measure_token_grid_ceiling import oracle_labels
from transformers import AutoModel

from mogent_hf import MOGENTModel
from mogent_hf.metrics import segmentation_metrics
from mogent_hf.metrics.segmentation import _iou_matrix, fg_ari_per_image, mbo_per_image

AREA_BINS = (0, 16, 32, 64, 128, 4096)


def best_iou_by_object(predictions: np.ndarray, references: np.ndarray) -> np.ndarray:
    """(N,H,W) label maps → (objects, 2): each ground-truth object's area in pixels and its best IoU."""
    rows = []
    for prediction, reference in zip(predictions, references):
        ids = np.unique(reference)[1:]
        best = _iou_matrix(prediction.ravel(), reference.ravel(), ids).max(1)  # as mBO takes it
        rows.extend(zip((reference[None] == ids[:, None, None]).sum((1, 2)), best))
    return np.array(rows)


def objects_and_main_slots(prediction: np.ndarray, reference: np.ndarray):
    """Per ground-truth object of one image: (its pixel mask, its main slot — the label holding most of its pixels —
    and the fraction of its pixels that slot holds)."""
    for i in np.unique(reference)[1:]:
        pixels = reference == i
        counts = np.bincount(prediction[pixels])
        yield pixels, counts.argmax(), counts.max() / counts.sum()


def shared_slot_rates(images: np.ndarray, predictions: np.ndarray, references: np.ndarray) -> dict[str, tuple]:
    """Object pairs whose main slots are the same, by whether the two objects have one colour (mean RGB values within
    20 of each other, of 255, on every channel) → {"one colour" / "two colours": (pairs in one slot, pairs)}."""
    counts = {"one colour": [0, 0], "two colours": [0, 0]}
    for image, prediction, reference in zip(images, predictions, references):
        objects = [(slot, image[pixels].mean(0)) for pixels, slot, _ in objects_and_main_slots(prediction, reference)]
        for a, (slot_a, colour_a) in enumerate(objects):
            for slot_b, colour_b in objects[a + 1 :]:
                kind = "one colour" if np.abs(colour_a - colour_b).max() < 20 else "two colours"
                counts[kind][0] += int(slot_a == slot_b)
                counts[kind][1] += 1
    return {kind: tuple(count) for kind, count in counts.items()}


def scenes_with_a_shared_slot(predictions: np.ndarray, references: np.ndarray) -> tuple[float, float]:
    """The issue's per-scene measure: the fraction of images in which one slot is the main slot of two or more
    objects, and the fraction in which that slot is mostly background (a floor band holding two objects)."""
    shared, by_background = [], []
    for prediction, reference in zip(predictions, references):
        slots = np.array([slot for _, slot, _ in objects_and_main_slots(prediction, reference)])
        multiple = [slot for slot in np.unique(slots) if (slots == slot).sum() > 1]
        shared.append(bool(multiple))
        background = [((prediction == slot) & (reference == 0)).sum() > 0.5 * (prediction == slot).sum()
                      for slot in multiple]  # fmt: skip
        by_background.append(any(background))
    return float(np.mean(shared)), float(np.mean(by_background))


def main_slot_fractions(predictions: np.ndarray, references: np.ndarray) -> np.ndarray:
    """(objects,): the fraction of each ground-truth object's pixels that its main slot holds; 1 = not split."""
    return np.array([fraction for prediction, reference in zip(predictions, references)
                     for _, _, fraction in objects_and_main_slots(prediction, reference)])  # fmt: skip


@contextmanager
def recorded_cross_attention(model: MOGENTModel):
    """Inside the block, each decoder pass appends its blocks' cross-attention weights (B,heads,L,K) to the list."""
    weights, originals = [], []
    for block in model.decoder.blocks:
        attention = block.cross_attention
        originals.append(attention.attend)

        def attend(queries, keys, values, causal, _original=attention.attend):
            weights.append(torch.softmax(queries @ keys.transpose(-1, -2) * queries.shape[-1] ** -0.5, dim=-1))
            return _original(queries, keys, values, causal)

        attention.attend = attend
    try:
        yield weights
    finally:
        for block, original in zip(model.decoder.blocks, originals):
            block.cross_attention.attend = original


@torch.no_grad()
def segment_by_source(model: MOGENTModel, images: torch.Tensor, mask_ratio: float, seed: int) -> dict:
    """Label maps (N,H,W) from Slot Attention and from the decoder's cross-attention, by source name."""
    generator = torch.Generator().manual_seed(seed)
    sources: dict[str, list] = {}
    for batch in images.split(64):
        encoded = model.encode(batch, generator=generator)
        sources.setdefault("Slot Attention (the model's masks)", []).append(encoded.slot_masks.argmax(1))
        if model.mixture_decoder is not None:  # trained with the mixture loss: its posterior over the slots
            posterior = model.mixture_decoder.posterior(encoded.slots, encoded.attention, encoded.tokens)
            sources.setdefault("slot-mask mixture posterior", []).append(model.attention_to_masks(posterior).argmax(1))
        if model.config.model_type != "mogent":
            continue
        masked = torch.rand(encoded.tokens.shape, generator=generator) < mask_ratio
        tokens = encoded.tokens.masked_fill(masked, model.config.mask_token_id)
        with recorded_cross_attention(model) as weights:
            model.token_logits(tokens, encoded.slots)
        maps = [w.mean(1).transpose(1, 2) for w in weights]  # each (B,K,L)
        for block, attention in enumerate(maps):
            sources.setdefault(f"decoder block {block + 1}", []).append(model.attention_to_masks(attention).argmax(1))
        mean = torch.stack(maps).mean(0)
        sources.setdefault("decoder, blocks' mean", []).append(model.attention_to_masks(mean).argmax(1))
    return {name: torch.cat(labels).numpy() for name, labels in sources.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipeline", help="a saved MOGENT (or SLATE) pipeline directory")
    parser.add_argument("--mask_ratios", type=float, nargs="+", default=[1.0, 0.5], help="decoder input")
    add_scene_arguments(parser)
    args = parser.parse_args()
    model = AutoModel.from_pretrained(Path(args.pipeline) / "model").eval()
    images, masks = held_out_scenes(args, model.config.image_size).arrays()  # (N,H,W,3), (N,H,W)
    pixels = images
    images = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255

    by_source = {ratio: segment_by_source(model, images, ratio, args.seed) for ratio in args.mask_ratios}
    predictions = next(iter(by_source[args.mask_ratios[0]].values()))  # Slot Attention's
    model_rows = best_iou_by_object(predictions, masks)
    oracle_rows = best_iou_by_object(oracle_labels(masks, model.config.tokens_per_side, 0.6), masks)
    print("| object area (px) | objects | best IoU, model | best IoU, token-grid oracle |\n|---|---|---|---|")
    for low, high in zip(AREA_BINS, AREA_BINS[1:]):
        chosen = (model_rows[:, 0] >= low) & (model_rows[:, 0] < high)
        if chosen.any():
            print(f"| {low}–{high} | {chosen.sum()} | {model_rows[chosen, 1].mean():.3f} | "
                  f"{oracle_rows[chosen, 1].mean():.3f} |")  # fmt: skip
    print(f"| all | {len(model_rows)} | {model_rows[:, 1].mean():.3f} | {oracle_rows[:, 1].mean():.3f} |\n")

    visible = np.array([len(np.unique(mask)) - 1 for mask in masks])
    fg_ari, mbo = fg_ari_per_image(predictions, masks), mbo_per_image(predictions, masks)
    background_only = np.array([
        sum(((p == label) & (m == 0)).sum() > 0.8 * (p == label).sum() for label in np.unique(p))
        for p, m in zip(predictions, masks)
    ])  # fmt: skip
    print("| visible objects | images | FG-ARI | mBO | background-only slots |\n|---|---|---|---|---|")
    for count in np.unique(visible):
        chosen = visible == count
        print(f"| {count} | {chosen.sum()} | {fg_ari[chosen].mean():.3f} | {np.nanmean(mbo[chosen]):.3f} | "
              f"{background_only[chosen].mean():.2f} |")  # fmt: skip
    shares = np.bincount(predictions[masks == 0], minlength=model.config.num_slots) / (masks == 0).sum()
    print("\n| slot | " + " | ".join(map(str, range(len(shares)))) + " |\n|---|" + "---|" * len(shares))
    print("| share of background pixels | " + " | ".join(f"{share:.2f}" for share in shares) + " |\n")
    print("| object pairs | pairs | in one slot |\n|---|---|---|")
    for kind, (shared, pairs) in shared_slot_rates(pixels, predictions, masks).items():
        print(f"| {kind} | {pairs} | {shared / max(pairs, 1):.2f} |")
    any_slot, background_slot = scenes_with_a_shared_slot(predictions, masks)
    print(f"\nScenes in which one slot is the main slot of two or more objects: {any_slot:.0%}; in which that slot is "
          f"mostly background (a floor band holding two objects): {background_slot:.0%}.")  # fmt: skip
    fractions = main_slot_fractions(predictions, masks)
    split = np.mean(fractions < 0.8)
    print(f"\nObject pixels in the object's main slot: {fractions.mean():.3f} on average; {split:.0%} of the objects "
          "have less than 80% in one slot.\n")  # fmt: skip

    print("| mask source | decoder input masked | FG-ARI | mIoU | FG-mIoU | mBO |\n|---|---|---|---|---|---|")
    for ratio, sources in by_source.items():
        for name, labels in sources.items():
            if not name.startswith("decoder") and ratio != args.mask_ratios[0]:
                continue
            scores = segmentation_metrics(labels, masks)
            row = " | ".join(f"{scores[key]:.3f}" for key in ("fg_ari", "miou", "fg_miou", "mbo"))
            print(f"| {name} | {f'{ratio:.0%}' if name.startswith('decoder') else '—'} | {row} |", flush=True)


if __name__ == "__main__":
    main()
