#!/bin/bash
# Run D (issue 40): the shipped model (checkpoints/mogent-small-full-iter15) trained on with run X's continuation flags
# and the SPOT-style self-distillation of Slot Attention from the decoder's cross-attention (blocks' mean), weight
# 0.05 ramped over 250 steps. Usage: launch_D_slot_distillation.sh OUTPUT_DIR [extra flags]
# Resume with: ... OUTPUT_DIR --resume_from_checkpoint latest. Control (no distillation): --slot_distillation_weight 0
cd "$(dirname "$0")/../.."
output_dir=$1
shift
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} exec ${PYTHON:-.venv/bin/python} training/train.py --model_type mogent \
  --pretrained_model_name_or_path checkpoints/mogent-small-full-iter15 \
  --synthetic clevr --min_objects 3 --max_objects 6 --tau_start 0.1 --sigma_start 0 --codebook_entropy_weight 0 \
  --dvae_pretrain_steps 0 --lr_warmup_steps 200 --annealing_steps 1 --max_train_steps 2500 --validation_steps 250 \
  --checkpointing_steps 250 --checkpoints_total_limit 2 --seed 0 \
  --slot_distillation_weight 0.05 --slot_distillation_ramp_steps 250 --slot_distillation_block mean \
  --output_dir "$output_dir" "$@"
