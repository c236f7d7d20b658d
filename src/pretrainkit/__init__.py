"""pretrainkit: pretrain a backbone on unlabeled data, fine-tune it on few labels."""

__version__ = "0.1.0"
