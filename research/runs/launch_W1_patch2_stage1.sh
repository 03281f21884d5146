#!/bin/bash
# Run W stage 1: the small model with a 32x32 token grid (DVAE patch 2) through run U's stage-1 recipe, seed 0.
cd "$(dirname "$0")/../.."
OMP_NUM_THREADS=1 exec .venv/bin/python training/train.py --model_type mogent --preset small --num_slots 7 \
  --dvae_patch_size 2 --synthetic clevr --synthetic_simple --min_objects 3 --max_objects 6 \
  --codebook_entropy_weight 0.01 --codebook_entropy_annealing_steps 2000 --dvae_pretrain_steps 2000 \
  --mixture_loss_weight 1.0 --no-mixture_decoder_positions --mixture_loss_annealing_steps 3000 \
  --lr_warmup_steps preset --annealing_steps preset --max_train_steps 6000 --validation_steps 500 \
  --checkpointing_steps 250 --checkpoints_total_limit 2 --seed 0 --output_dir /work/runs/W-patch2-stage1 "$@"
