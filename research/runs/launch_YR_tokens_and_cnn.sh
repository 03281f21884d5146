#!/bin/bash
# Run YR (issue 40, item 3): Slot Attention over a 32×32 grid (--slot_input tokens_and_cnn --slot_input_stride 2):
# each token's embedding repeated over its 2×2 cells plus a CNN's features whose last layer starts at zero, so the
# run starts from exactly the shipped model's slots (checkpoints/mogent-small-full-iter15); run X's continuation
# flags, 2,500 steps. Usage: launch_YR_tokens_and_cnn.sh OUTPUT_DIR SEED [extra flags]
# Resume with: ... --resume_from_checkpoint latest
cd "$(dirname "$0")/../.."
output_dir=$1 seed=$2
shift 2
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} exec ${PYTHON:-.venv/bin/python} training/train.py --model_type mogent \
  --pretrained_model_name_or_path checkpoints/mogent-small-full-iter15 --slot_input tokens_and_cnn \
  --slot_input_stride 2 --synthetic clevr --min_objects 3 --max_objects 6 --tau_start 0.1 --sigma_start 0 \
  --codebook_entropy_weight 0 --dvae_pretrain_steps 0 --lr_warmup_steps 200 --annealing_steps 1 \
  --max_train_steps 2500 --validation_steps 250 --checkpointing_steps 250 --checkpoints_total_limit 2 \
  --seed "$seed" --output_dir "$output_dir" "$@"
