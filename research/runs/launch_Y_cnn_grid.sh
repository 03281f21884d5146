#!/bin/bash
# Run Y (issue 40, item 3): Slot Attention over a CNN feature map finer than the 16×16 token grid (BO-QSA style), the
# decoder keeping its tokens. Warm start: the shipped model (checkpoints/mogent-small-full-iter15) with
# --slot_input cnn --slot_input_stride 2 (32×32) or 1 (64×64): DVAE, decoder and Slot Attention loaded, the CNN and
# its soft position embedding freshly initialised; run X's continuation flags. Usage:
#   launch_Y_cnn_grid.sh OUTPUT_DIR STRIDE SEED [extra flags]; resume: add --resume_from_checkpoint latest
cd "$(dirname "$0")/../.."
output_dir=$1 stride=$2 seed=$3
shift 3
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} exec ${PYTHON:-.venv/bin/python} training/train.py --model_type mogent \
  --pretrained_model_name_or_path checkpoints/mogent-small-full-iter15 --slot_input cnn --slot_input_stride "$stride" \
  --synthetic clevr --min_objects 3 --max_objects 6 --tau_start 0.1 --sigma_start 0 --codebook_entropy_weight 0 \
  --dvae_pretrain_steps 0 --lr_warmup_steps 200 --annealing_steps 1 --max_train_steps 5000 --validation_steps 500 \
  --checkpointing_steps 250 --checkpoints_total_limit 2 --seed "$seed" --output_dir "$output_dir" "$@"
