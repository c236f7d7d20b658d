"""Text: sources and their file readers, tokenizers, the token cache and packing, and the
unlabeled (pretraining) and labeled (fine-tuning) data modules built on them."""
