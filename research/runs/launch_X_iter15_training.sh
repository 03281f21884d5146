#!/bin/bash
# Run X: the shipped full-scene model (run L, trained with 5 Slot Attention iterations) trained on with N iterations,
# run K's continuation flags, 2,500 steps. Usage: launch_X_iter15_training.sh ITERATIONS OUTPUT_DIR [extra flags]
# (15: run X; 5: its control). Resume with: ... --resume_from_checkpoint latest
cd "$(dirname "$0")/../.."
iterations=$1 output_dir=$2
shift 2
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} exec .venv/bin/python training/train.py --model_type mogent \
  --pretrained_model_name_or_path checkpoints/mogent-small-full --num_slot_iterations "$iterations" \
  --synthetic clevr --min_objects 3 --max_objects 6 --tau_start 0.1 --sigma_start 0 --codebook_entropy_weight 0 \
  --dvae_pretrain_steps 0 --lr_warmup_steps 200 --annealing_steps 1 --max_train_steps 2500 --validation_steps 500 \
  --checkpointing_steps 250 --checkpoints_total_limit 2 --seed 0 --output_dir "$output_dir" "$@"
