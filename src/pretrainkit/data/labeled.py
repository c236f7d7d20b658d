"""The fine-tuning data module: a stratified labeled subset, a validation split, the test split."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch.utils.data import DataLoader

from pretrainkit.data.datasets import TensorImages, Transformed
from pretrainkit.data.loader import ResumableLoaders
from pretrainkit.data.sources import ImageSource
from pretrainkit.data.splits import check_label_budget, train_val_indices


class LabeledLoaders(ResumableLoaders):
    """The loaders of a fine-tuning data module whose `setup` makes `train_set`, `val_set` and
    `test_set` (shared by the image and text modules)."""

    train_set: Any
    val_set: Any
    test_set: Any

    @property
    def num_labeled(self) -> int:
        """How many labeled examples the classifier trains on."""
        self.setup()
        return len(self.train_set)  # type: ignore[arg-type]

    def collate_fn(self) -> Callable[[list[Any]], Any] | None:
        """How examples become a batch (None: the default collate)."""
        return None

    def _loader(self, dataset: Any, shuffle: bool) -> DataLoader:
        return self.make_loader(
            dataset,
            train=shuffle,
            # training: only full batches once there are more labels than one batch, so a
            # trailing batch of one never reaches BatchNorm; eval: every example counts
            drop_last=shuffle and len(dataset) > self.batch_size,
            collate_fn=self.collate_fn(),
        )

    def train_dataloader(self) -> DataLoader:
        self.setup()
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        self.setup()
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        self.setup()
        return self._loader(self.test_set, shuffle=False)


class LabeledDataModule(LabeledLoaders):
    """Labeled images for fine-tuning and evaluation.

    From the source's labeled train split, `val_fraction` of every class is held out for
    validation first; the labeled training set is then drawn from the rest, either
    `label_fraction` of every class (at least one image each) or `labels_per_class` images of
    every class. Both draws are stratified and deterministic given `seed`. `test/*` metrics use
    the source's test split. With `cache_eval`, validation and test images of in-memory
    sources are transformed once and kept (the eval transform is deterministic).
    """

    def __init__(
        self,
        source: ImageSource,
        train_transform: Callable[[Any], Any],
        eval_transform: Callable[[Any], Any],
        label_fraction: float | None = 1.0,
        labels_per_class: int | None = None,
        val_fraction: float = 0.1,
        seed: int = 0,
        batch_size: int = 128,
        num_workers: int = 0,
        pin_memory: bool = True,
        cache_eval: bool = True,
    ) -> None:
        super().__init__()
        label_fraction = check_label_budget(label_fraction, labels_per_class, val_fraction)
        if batch_size < 1:
            raise ValueError(f"data.batch_size={batch_size} must be >= 1.")
        self.source = source
        self.train_transform, self.eval_transform = train_transform, eval_transform
        self.label_fraction, self.labels_per_class = label_fraction, labels_per_class
        self.val_fraction, self.seed = val_fraction, seed
        self.batch_size, self.num_workers, self.pin_memory = batch_size, num_workers, pin_memory
        self.cache_eval = cache_eval
        self.train_set: Transformed | None = None

    @property
    def num_classes(self) -> int:
        return self.source.num_classes

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        train = self.source.labeled("train")
        chosen, val = train_val_indices(
            train.targets, self.val_fraction, self.seed, self.label_fraction, self.labels_per_class
        )
        self.train_set = Transformed(train, self.train_transform, chosen)
        test = self.source.labeled("test")
        cache = self.cache_eval and isinstance(train, TensorImages)  # files could outgrow memory
        self.val_set = Transformed(train, self.eval_transform, val, cache=cache)
        self.test_set = Transformed(test, self.eval_transform, cache=cache)
