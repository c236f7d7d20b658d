"""Images: sources (in memory or files on disk), their datasets, and the unlabeled (pretraining)
and labeled (fine-tuning) data modules built on them."""
