"""One LightningModule per pretext task, plus the fine-tuning classifier."""
