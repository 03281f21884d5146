"""Draws the learning-curve figures of research/results_log.md (research/figures/) from the validation logs of its
runs (research/runs/*.jsonl, copied from each run's logs.jsonl): FG-ARI, mBO, codes in use and decoder cross-entropy
against the step. One figure per group of runs (FIGURES: file name → run-name prefixes); a run continued from
another's model starts at the steps that model had trained (STARTS).

    python research/scripts/make_learning_curves.py
"""

from __future__ import annotations

import json
from pathlib import Path

import PIL.Image

from mogent_hf.visualization import line_plot

RESEARCH = Path(__file__).resolve().parents[1]
PANELS = [("validation/fg_ari", "FG-ARI"), ("validation/mbo", "mBO"), ("validation/codes_in_use", "codes in use"),
          ("validation/cross_entropy", "decoder cross-entropy")]  # fmt: skip
FIGURES = {
    "learning_curves.png": ("A-", "B-", "C-"),  # sanity stage: the recipe (runs A, B, C)
    "learning_curves_ablation.png": ("C-mogent", "E-", "G-"),  # Table 4 ablation and the CNN input, at C's budget
    "learning_curves_ablation_seed1.png": ("C1-mogent", "E1-"),  # the Table 4 ablation again with seed 1
    "learning_curves_seeds.png": ("C-mogent", "C-slate", "C1-", "C2-", "C3-"),  # run C with seeds 0 to 3
    "learning_curves_full_scenes.png": ("F-", "H-", "I-", "J-"),  # textured scenes; the simple-to-full curriculum
    "learning_curves_curriculum.png": ("H-", "I-", "K-", "L-", "M-", "N-"),  # curriculum: longer, seed 1, 10 slots
    "learning_curves_mixture.png": ("L-", "P-", "S-"),  # run L continued: the mixture loss, a learning-rate cool-down
    "learning_curves_mixture_simple.png": ("C-mogent", "C1-mogent", "C2-mogent", "C3-mogent", "Q-"),  # from scratch
    "learning_curves_mixture_stage1.png": ("H-", "M-seed1-stage1", "R-stage1", "R1-", "T-", "T2-", "U-", "U1-"),
    "learning_curves_mixture_stage1_seeds.png": ("H-", "H2-", "M-seed1-stage1", "U-", "U1-", "U2-"),  # 3 seeds
    "learning_curves_mixture_curriculum.png": ("H-", "I-", "R-", "RB-", "RN-", "U-", "UN-", "UL-"),  # seed 0
    "learning_curves_mixture_curriculum_seed1.png": ("M-seed1", "R1-", "RN1-", "U1-", "U1N-"),  # the same, seed 1
    "learning_curves_curriculum_slate.png": ("M-seed1", "MS-"),  # the curriculum, seed 1: MOGENT vs SLATE
    "learning_curves_curriculum_slate_seed0.png": ("H-", "I-", "MS0-"),  # the curriculum, seed 0: MOGENT vs SLATE
    "learning_curves_medium_stage1.png": ("H-", "U-", "V-medium-stage1"),  # stage 1, seed 0: small (H, U), medium (V)
    "learning_curves_medium.png": ("U-", "U1-", "UN-", "V-", "V1-"),  # the curriculum, small (U) vs medium (V) model
    "learning_curves_token_grid.png": ("U-", "U1-", "UN-", "U1N-", "W-", "W1-"),  # 16 × 16 vs 32 × 32 tokens
    "learning_curves_slot_iterations.png": ("K-mogent-full-iter5", "L-", "X"),  # runs X*: 15 iterations
    # the shipped model trained on: controls (Xb, D0, D01) and distillation (D, D2, DT, DT1, DTw) ...
    "learning_curves_mask_distillation.png": ("Xb-", "D-", "D0", "D2-", "DT"),
    # ... and Slot Attention's update (Z) and grid (Y, YT, YR, YR1, YRT) against the controls
    "learning_curves_mask_slot_attention.png": ("D0", "Z-", "Y"),
}
# A run that starts from a trained model is drawn from the step that model had reached (its stages' steps in all).
STARTS = {
    "I-": 6000,
    "J-": 10000,
    "K-": 13000,
    "L-": 15500,
    "M-seed1-stage2": 6000,
    "N-slots10-stage2": 6000,
    "P-": 20500,
    "S-": 20500,
    "R-stage2": 6000,
    "RN-": 6000,
    "RB-": 6000,
    "UN-": 6000,
    "V-medium-stage2": 6000,
    "W-patch2-stage2": 6000,
    "W1-patch2-stage2": 6000,
    "UL-": 11000,
    "X-": 20500,
    "X0-": 20500,
    "Xb-": 23000,
    **dict.fromkeys(("D-", "D0", "D2-", "DT", "Z-", "Y"), 23000),  # from checkpoints/mogent-small-full-iter15
    "X1-": 20500,
    "X01-": 20500,
    "RN1-": 6000,
    "U1N-": 6000,
    "MS-slate-seed1-stage2": 6000,
    "MS0-slate-seed0-stage2": 6000,
}


def main() -> None:
    for name, prefixes in FIGURES.items():
        paths = [p for p in sorted((RESEARCH / "runs").glob("*.jsonl")) if p.stem.startswith(prefixes)]
        if paths:
            draw(paths, RESEARCH / "figures" / name)


def draw(paths: list[Path], output: Path) -> None:
    runs = {}
    for path in paths:
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        start = next((steps for prefix, steps in STARTS.items() if path.stem.startswith(prefix)), 0)
        runs[path.stem] = [{**row, "step": start + row["step"]} for row in rows if "validation/fg_ari" in row]
    panels = []
    for key, label in PANELS:
        series = {name: ([r["step"] for r in rows], [r[key] for r in rows]) for name, rows in runs.items() if rows}
        panels.append(line_plot(series, f"{label} on held-out scenes", "step", label, size=(640, 330)))
    width, height = panels[0].size
    canvas = PIL.Image.new("RGB", (2 * width, 2 * height), "white")
    for index, panel in enumerate(panels):
        canvas.paste(panel, ((index % 2) * width, (index // 2) * height))
    canvas.save(output)
    print(f"wrote {output} from {len(runs)} runs")


if __name__ == "__main__":
    main()
