"""Training: the resumable loop shared by both stages (loop), stage 1 (small_unet_stage: the small
U-Net on the MERRA-2 record) and stage 2 (large_model_stage: the large models on G5NR)."""
