"""`firstcrack train`: fine-tune (or train from scratch) an AST first-crack classifier.

Built on transformers' `Trainer` so that checkpointing, resuming, gradient
clipping, the warmup + cosine schedule, early stopping and the progress bar
are the well-trodden library code, not ours. What is ours:

- class-weighted cross-entropy (`WeightedTrainer.compute_loss`): first crack
  is a minority of any roast's windows, and an unweighted model learns to
  say "no" early;
- data: any layout models/datasets reads, split by recording, or simulated
  roasts generated first (their seeds are recorded so that evaluation can use
  disjoint, held-out seeds);
- augmentation on the waveform before feature extraction (`firstcrack.models.training.augment`);
- an optional partial freeze of the backbone, for small real datasets.

The output directory is a `save_pretrained` model (plus preprocessor config)
that every loader in `firstcrack.models.inference.classifier` accepts, with `train_report.json`,
`split_report.{json,txt}` and Trainer checkpoints under `checkpoints/`.
"""

from __future__ import annotations

import inspect
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from firstcrack.models.datasets.records import LABELS
from firstcrack.models.datasets.simulated import simulated_dataset
from firstcrack.models.datasets.splits import build_splits, write_split_report
from firstcrack.models.evaluation.window_metrics import finite_json, window_metrics
from firstcrack.models.training.augment import AugmentConfig, Augmenter, ChunkFeatureDataset
from firstcrack.models.training.options import (
    DEFAULT_BASE_MODEL,
    FINE_TUNE_LR,
    SCRATCH_LR,
    TrainError,
)

log = logging.getLogger(__name__)

ID2LABEL = dict(enumerate(LABELS))
LABEL2ID = {name: i for i, name in ID2LABEL.items()}


@dataclass
class TrainReport:
    """What `train_report.json` holds. Times in seconds; metrics are on validation."""

    output_dir: str
    command: str
    model_source: str
    split: dict[str, Any]
    epochs: list[dict[str, Any]]
    best: dict[str, Any] | None
    test: dict[str, Any] | None
    wall_time_s: float
    seconds_per_epoch: float | None
    simulated: dict[str, Any] | None
    resumed_from: str | None
    options: dict[str, Any] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        return finite_json(asdict(self))


def class_weights(labels: list[int] | np.ndarray, n_classes: int = 2) -> torch.Tensor:
    """Inverse-frequency weights N / (K * count_c): balanced classes all get 1.0."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes)
    total = counts.sum()
    return torch.tensor(total / (n_classes * np.maximum(counts, 1)), dtype=torch.float32)


def _trainer_class() -> type:
    from transformers import Trainer

    class WeightedTrainer(Trainer):
        """Trainer whose loss is cross-entropy weighted by `class_weights`."""

        def __init__(self, *args: Any, class_weights: torch.Tensor, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.class_weights = class_weights

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # type: ignore[override]
            outputs = model(input_values=inputs["input_values"])
            weight = self.class_weights.to(outputs.logits.device)
            loss = F.cross_entropy(outputs.logits, inputs["labels"], weight=weight)
            return (loss, outputs) if return_outputs else loss

        # transformers 5 renames AST's weights on load (encoder.layer.N.attention.attention.key
        # -> layers.N.attention.k_proj) but saves the old names, and Trainer reloads checkpoints
        # with a non-strict load_state_dict that skips the renaming: resumed and "best" models
        # would silently keep their current weights. from_pretrained applies the renaming, and
        # the strict copy below fails loudly if anything is still missing.
        def _load_from_checkpoint(self, resume_from_checkpoint, model=None):  # type: ignore[override]
            target = model if model is not None else self.model
            load_checkpoint_weights(target, resume_from_checkpoint)

        def _load_best_model(self):  # type: ignore[override]
            log.info("loading the best model from %s", self.state.best_model_checkpoint)
            load_checkpoint_weights(self.model, self.state.best_model_checkpoint)

    return WeightedTrainer


def load_checkpoint_weights(model: Any, checkpoint: str) -> None:
    """Load a `save_pretrained` checkpoint's weights into `model` in place (strict)."""
    loaded = type(model).from_pretrained(checkpoint)
    model.load_state_dict(loaded.state_dict(), strict=True)


def compute_metrics(eval_pred: Any) -> dict[str, float]:
    """Trainer hook: window metrics at 0.5 from logits (label 1 = first_crack)."""
    logits, labels = eval_pred.predictions, eval_pred.label_ids
    probs = torch.softmax(torch.as_tensor(logits), dim=-1)[:, 1].numpy()
    m = window_metrics(labels, probs, 0.5)
    out = {k: m[k] for k in ("accuracy", "precision", "recall", "f1")}
    if m["auc"] is not None:
        out["auc"] = m["auc"]
    return out


def build_model(base: str, from_scratch: str | None, seed: int) -> tuple[Any, Any, str]:
    """(model, feature extractor, description) with the 2-label head."""
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    from firstcrack.models.training.tiny import tiny_ast_config, tiny_feature_extractor

    torch.manual_seed(seed)
    labels = {"num_labels": 2, "id2label": ID2LABEL, "label2id": LABEL2ID}
    if from_scratch is not None:
        if from_scratch == "tiny":
            config = tiny_ast_config()
        else:
            try:
                values = json.loads(Path(from_scratch).read_text())
            except (OSError, ValueError) as exc:
                raise TrainError(f"--from-scratch {from_scratch}: not a readable JSON config "
                                 f"({exc})") from exc
            config = ASTConfig(**{k: v for k, v in values.items() if k not in labels})
        for key, value in labels.items():
            setattr(config, key, value)
        return ASTForAudioClassification(config), tiny_feature_extractor(config), \
            f"scratch:{from_scratch}"
    try:
        model = ASTForAudioClassification.from_pretrained(base, ignore_mismatched_sizes=True,
                                                          **labels)
        extractor = ASTFeatureExtractor.from_pretrained(base)
    except (OSError, ValueError) as exc:
        raise TrainError(f"--base {base}: cannot load the base model ({exc}). Give a local "
                         "save_pretrained directory, or --from-scratch tiny") from exc
    return model, extractor, base


def freeze_backbone(model: Any, layers: int) -> int:
    """Freeze the patch embeddings and the first `layers` encoder layers; returns frozen params."""
    if layers <= 0:
        return 0
    backbone = model.audio_spectrogram_transformer
    # transformers 5 keeps the layers on the model; 4.x kept them under encoder.layer
    encoder = backbone.layers if hasattr(backbone, "layers") else backbone.encoder.layer
    if layers > len(encoder):
        raise TrainError(f"--freeze-layers {layers}: the model has only {len(encoder)} layers")
    frozen = 0
    for module in [backbone.embeddings, *encoder[:layers]]:
        for param in module.parameters():
            param.requires_grad = False
            frozen += param.numel()
    return frozen


def _training_args(out: Path, opts: dict[str, Any], lr: float, progress: bool) -> Any:
    from transformers import TrainingArguments

    kwargs: dict[str, Any] = dict(
        output_dir=str(out / "checkpoints"), num_train_epochs=opts["epochs"],
        per_device_train_batch_size=opts["batch_size"],
        per_device_eval_batch_size=opts["batch_size"], learning_rate=lr,
        weight_decay=opts["weight_decay"], lr_scheduler_type="cosine",
        max_grad_norm=opts["max_grad_norm"], optim="adamw_torch",
        eval_strategy="epoch", save_strategy="epoch", logging_strategy="epoch",
        load_best_model_at_end=True, metric_for_best_model="f1", greater_is_better=True,
        save_total_limit=2, seed=opts["seed"], data_seed=opts["seed"], report_to=[],
        use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0,
        remove_unused_columns=False, disable_tqdm=not progress,
    )
    params = inspect.signature(TrainingArguments.__init__).parameters
    if "warmup_ratio" in params:
        kwargs["warmup_ratio"] = opts["warmup_ratio"]
    else:  # transformers >= 5: a float below 1 is a ratio of the total steps
        kwargs["warmup_steps"] = float(opts["warmup_ratio"])
    if opts.get("max_steps"):
        kwargs["max_steps"] = opts["max_steps"]
    return TrainingArguments(**kwargs)


def _epoch_rows(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge the Trainer's per-epoch train-loss and eval entries into one row per epoch."""
    rows: dict[float, dict[str, Any]] = {}
    for entry in history:
        epoch = round(float(entry.get("epoch", 0.0)), 3)
        if "eval_f1" in entry:
            row = rows.setdefault(epoch, {"epoch": epoch})
            row.update({k.removeprefix("eval_"): v for k, v in entry.items()
                        if k.startswith("eval_") and not k.endswith(("per_second", "_runtime"))})
        elif "loss" in entry:
            rows.setdefault(epoch, {"epoch": epoch})["train_loss"] = entry["loss"]
    return [rows[k] for k in sorted(rows)]


def _epoch_logger() -> Any:
    from transformers import TrainerCallback

    class EpochLog(TrainerCallback):
        def on_evaluate(self, args, state, control, metrics=None, **kwargs):  # type: ignore[override]
            m = metrics or {}
            log.info("epoch %.0f val: f1=%.3f precision=%.3f recall=%.3f acc=%.3f auc=%s",
                     state.epoch or 0, m.get("eval_f1", 0), m.get("eval_precision", 0),
                     m.get("eval_recall", 0), m.get("eval_accuracy", 0),
                     f"{m['eval_auc']:.3f}" if "eval_auc" in m else "n/a")

    return EpochLog()


def _last_checkpoint(out: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    folder = out / "checkpoints"
    return get_last_checkpoint(str(folder)) if folder.is_dir() else None


def train(
    out_dir: str | Path, data: str | Path | None = None, simulate: tuple[int, int] | None = None,
    sim_seed_offset: int = 0, sim_duration: float | None = None, base: str = DEFAULT_BASE_MODEL,
    from_scratch: str | None = None, epochs: float = 10, batch_size: int = 8,
    learning_rate: float | None = None, weight_decay: float = 0.01, warmup_ratio: float = 0.1,
    max_grad_norm: float = 1.0, freeze_layers: int = 0, patience: int = 3, seed: int = 0,
    val_fraction: float = 0.2, test_fraction: float = 0.0, window_s: float = 10.0,
    hop_s: float = 5.0, augment: bool = True, resume: bool = False,
    max_steps: int | None = None, audio_offset_s: float = 0.0, progress: bool = True,
    command: str | None = None,
) -> TrainReport:
    """Train and save a first-crack classifier into `out_dir`; see the module docstring.

    Exactly one of `data` (a directory in any layout models/datasets reads)
    and `simulate` ((n_crack, n_no_crack) roasts generated into
    `out_dir/sim_data` from seeds `sim_seed_offset ...`) must be given.
    `epochs` may be fractional; `max_steps` overrides it (smoke tests).
    Raises TrainError / DatasetError for bad input.
    """
    from transformers import EarlyStoppingCallback

    opts = {k: v for k, v in locals().items() if k not in ("command", "EarlyStoppingCallback")}
    opts = {k: str(v) if isinstance(v, Path) else v for k, v in opts.items()}
    started, out = time.monotonic(), Path(out_dir)
    if (data is None) == (simulate is None):
        raise TrainError("give exactly one of --data DIR and --simulate N_CRACK,N_NOCRACK")
    resume_from = _last_checkpoint(out) if resume else None
    if resume and resume_from is None:
        log.warning("--resume: no checkpoint under %s/checkpoints; starting fresh", out)
    if not resume and _last_checkpoint(out) is not None:
        raise TrainError(f"{out} already holds checkpoints; pass --resume to continue them "
                         "or choose another output directory")
    simulated = None
    if simulate is not None:
        n_crack, n_none = simulate
        crack = list(range(sim_seed_offset, sim_seed_offset + n_crack))
        none = list(range(sim_seed_offset + n_crack, sim_seed_offset + n_crack + n_none))
        data = out / "sim_data"
        simulated_dataset(data, crack, none, duration_s=sim_duration)
        simulated = {"crack_seeds": crack, "no_crack_seeds": none, "duration_s": sim_duration}
    splits = build_splits(data, window_s, hop_s, val_fraction, test_fraction, seed,
                          audio_offset_s)  # type: ignore[arg-type]
    write_split_report(splits.report, out)
    if not splits.chunks["val"]:
        raise TrainError(f"{data}: no validation chunks (need at least two recordings, or a "
                         "val/ folder) - early stopping needs a validation split")
    model, extractor, source = build_model(base, from_scratch, seed)
    if freeze_layers:
        log.info("froze %d parameters", freeze_backbone(model, freeze_layers))
    train_chunks = splits.chunks["train"]
    augmenter = None
    if augment:
        backgrounds = [c.audio for c in train_chunks if c.label == 0]
        augmenter = Augmenter(AugmentConfig(), backgrounds, seed=seed)
    train_set = ChunkFeatureDataset(train_chunks, extractor, augmenter)
    val_set = ChunkFeatureDataset(splits.chunks["val"], extractor)
    weights = class_weights([c.label for c in train_chunks])
    lr = learning_rate or (SCRATCH_LR if from_scratch else FINE_TUNE_LR)
    trainer = _trainer_class()(
        model=model, args=_training_args(out, opts, lr, progress), train_dataset=train_set,
        eval_dataset=val_set, processing_class=extractor, compute_metrics=compute_metrics,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=patience), _epoch_logger()],
        class_weights=weights,
    )
    fit_started = time.monotonic()
    result = trainer.train(resume_from_checkpoint=resume_from)
    fit_s = time.monotonic() - fit_started
    trainer.save_model(str(out))
    extractor.save_pretrained(str(out))
    epochs_run = _epoch_rows(trainer.state.log_history)
    test = None
    if splits.chunks["test"]:
        pred = trainer.predict(ChunkFeatureDataset(splits.chunks["test"], extractor))
        probs = torch.softmax(torch.as_tensor(pred.predictions), dim=-1)[:, 1].numpy()
        test = window_metrics(pred.label_ids, probs, 0.5)
    best = next((row for row in epochs_run
                 if row.get("f1") == trainer.state.best_metric), None)
    new_epochs = max(float(result.metrics.get("epoch", 0)) - _start_epoch(resume_from), 1e-9)
    report = TrainReport(
        output_dir=str(out), command=command or "", model_source=source, split=splits.report,
        epochs=epochs_run, best=best, test=test, wall_time_s=time.monotonic() - started,
        seconds_per_epoch=fit_s / new_epochs, simulated=simulated, resumed_from=resume_from,
        options={**opts, "learning_rate": lr, "class_weights": weights.tolist(),
                 "train_chunks": len(train_set), "val_chunks": len(val_set)},
    )
    (out / "train_report.json").write_text(json.dumps(report.to_json_dict(), indent=2) + "\n")
    log.info("saved %s (best val f1 %s); report in %s", out,
             trainer.state.best_metric, out / "train_report.json")
    return report


def _start_epoch(checkpoint: str | None) -> float:
    """The epoch a resumed run starts from (0 for a fresh run)."""
    if checkpoint is None:
        return 0.0
    state = json.loads((Path(checkpoint) / "trainer_state.json").read_text())
    return float(state.get("epoch", 0.0))
