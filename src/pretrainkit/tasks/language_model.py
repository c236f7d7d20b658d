"""What the language-modelling tasks share: an HF LM head around the backbone's Transformer,
token-weighted validation loss / perplexity / accuracy, and `save_pretrained` export."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import torch
import transformers
from torchmetrics import MeanMetric
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from pretrainkit.backbones.text import TextTransformer
from pretrainkit.errors import BadValueError
from pretrainkit.run.io import atomic_dir
from pretrainkit.tasks.base import OptimizerFactory, PretextTask, SchedulerFactory, WeightDecay

HF_DIR = "hf"  # <run dir>/hf: model + tokenizer, loadable with transformers.AutoModel


class TokenLoss(NamedTuple):
    """A batch's token accounting: the mean loss over its predicted tokens, how many of them
    were predicted right, and how many there were (0-d tensors on the batch's device)."""

    loss: torch.Tensor
    correct: torch.Tensor
    counted: torch.Tensor


class LanguageModel(PretextTask):
    """A pretext task on token ids. Subclasses set `auto_class` (the `transformers` Auto class of
    the model with its LM head) and implement `token_loss`, the batch's `TokenLoss`; `step`
    logs the training loss per step and weighs validation by the tokens counted.

    The LM-head model is built around the backbone's own Transformer (its base model is
    replaced by `backbone.model`, and input/output embeddings re-tied), so pretraining trains
    exactly the modules `pk-finetune` later loads.
    """

    modality = "text"
    auto_class: Any = None

    def __init__(
        self,
        backbone: TextTransformer,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        weight_decay: WeightDecay = 0.01,
    ) -> None:
        super().__init__(backbone, optimizer, scheduler, weight_decay)
        if not isinstance(backbone, TextTransformer):
            raise BadValueError(
                f"task={self.name} needs a text backbone (backbone=bert_small or gpt_small), got "
                f"{type(backbone).__name__}."
            )
        self.lm: PreTrainedModel = self.auto_class.from_config(
            backbone.hf_config, attn_implementation="sdpa"
        )
        setattr(self.lm, self.lm.base_model_prefix, backbone.model)
        self.lm.tie_weights()  # the LM head's decoder is the (shared) input embedding matrix
        self.val_nll, self.val_acc = MeanMetric(), MeanMetric()
        self.tokenizer: PreTrainedTokenizerBase | None = None

    def setup(self, stage: str) -> None:
        tokenizer = getattr(self.trainer.datamodule, "tokenizer", None)
        if tokenizer is None:
            raise BadValueError(f"task={self.name} needs a text data module with a tokenizer.")
        self.use_tokenizer(tokenizer)

    def use_tokenizer(self, tokenizer: PreTrainedTokenizerBase) -> None:
        """Take what the task needs from the data's tokenizer (special ids, its size)."""
        embeddings = self.backbone.model.get_input_embeddings().num_embeddings
        if len(tokenizer) > embeddings:
            raise BadValueError(
                f"the tokenizer has {len(tokenizer)} tokens but the backbone embeds only "
                f"{embeddings}; build the backbone from this tokenizer (or pick a matching one)."
            )
        self.tokenizer = tokenizer

    def token_loss(self, batch: dict[str, torch.Tensor]) -> TokenLoss:
        raise NotImplementedError

    def step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        loss, correct, counted = self.token_loss(batch)
        if stage == "val":
            # token-weighted: perplexity is exp of the mean loss per predicted token over the
            # split, logged at the epoch's end (on_validation_epoch_end)
            self.val_nll.update(loss, weight=counted)
            self.val_acc.update(correct / counted.clamp_min(1), weight=counted)
            return loss
        n = len(batch["input_ids"])
        self.log_terms(stage, n, loss)  # then perplexity per step, accuracy per epoch
        self.log(f"{stage}/perplexity", loss.detach().exp(), on_step=True, batch_size=n)
        acc = correct / counted.clamp_min(1)
        self.log(f"{stage}/acc", acc, on_step=False, on_epoch=True, batch_size=n)
        return loss

    def on_validation_epoch_end(self) -> None:
        nll = self.val_nll.compute()
        self.log_dict(
            {"val/loss": nll, "val/perplexity": nll.exp(), "val/acc": self.val_acc.compute()},
            prog_bar=True,
        )
        self.val_nll.reset()
        self.val_acc.reset()

    def export(self, dirpath: Path) -> list[Path]:
        """Write `<dirpath>/hf`: the model with its LM head and the tokenizer, via
        `save_pretrained`, so `transformers.AutoModel.from_pretrained(dirpath / "hf")` loads
        the backbone. Written to a temporary directory first, then renamed into place."""
        transformers.utils.logging.disable_progress_bar()  # no "Writing model shards" bar

        def write(tmp: Path) -> None:
            self.lm.save_pretrained(tmp)
            if self.tokenizer is not None:
                self.tokenizer.save_pretrained(tmp)

        return atomic_dir(dirpath / HF_DIR, write)
