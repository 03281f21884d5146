#!/bin/bash
# Run W stage 2: run UN's stage-2 flags on the full scenes, from run W's stage-1 model (32x32 token grid), seed 0.
# The token grid comes with the pretrained model. Resume with: bash launch_W2_patch2_stage2.sh --resume_from_checkpoint latest
cd "$(dirname "$0")/../.."
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} exec .venv/bin/python training/train.py --model_type mogent \
  --pretrained_model_name_or_path /work/runs/W-patch2-stage1 \
  --mixture_loss_weight 0 --synthetic clevr --min_objects 3 --max_objects 6 --tau_start 0.1 --sigma_start 0 \
  --codebook_entropy_weight 0.01 --codebook_entropy_annealing_steps 2000 --dvae_pretrain_steps 500 \
  --lr_warmup_steps 500 --annealing_steps 1 --max_train_steps 5000 --validation_steps 500 --checkpointing_steps 250 \
  --checkpoints_total_limit 2 --seed 0 --output_dir /work/runs/W-patch2-stage2 "$@"
