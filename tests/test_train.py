"""Training: class weights, augmentation, freezing, and a tiny end-to-end run with --resume."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from firstcrack.models.inference.classifier import load_classifier
from firstcrack.models.training.augment import AugmentConfig, Augmenter, time_shift
from firstcrack.models.training.command import add_arguments as add_train_arguments
from firstcrack.models.training.options import TrainError
from firstcrack.models.training.train import (
    class_weights,
    freeze_backbone,
    load_checkpoint_weights,
    train,
)


def test_class_weights_are_inverse_frequency() -> None:
    """Three negatives and one positive: the positive counts three times as much."""
    w = class_weights([0, 0, 0, 1])
    assert torch.allclose(w, torch.tensor([4 / 6, 4 / 2]))
    assert torch.allclose(class_weights([0, 1, 0, 1]), torch.ones(2))


def test_time_shift_reflects_instead_of_wrapping() -> None:
    """A roll would splice the end onto the start, a click the model could learn."""
    ramp = np.arange(10, dtype=np.float32)
    assert time_shift(ramp, 3).tolist() == [3, 2, 1, 0, 1, 2, 3, 4, 5, 6]
    assert time_shift(ramp, -3).tolist() == [3, 4, 5, 6, 7, 8, 9, 8, 7, 6]
    assert time_shift(ramp, 0).tolist() == ramp.tolist()


def test_augmenter_is_seeded_and_keeps_shape() -> None:
    wave = (0.1 * np.random.default_rng(0).standard_normal(16_000)).astype(np.float32)
    background = np.full(4_000, 0.05, np.float32)
    cfg = AugmentConfig(noise_p=1.0, mix_p=1.0)
    a = Augmenter(cfg, [background], seed=7)(wave)
    b = Augmenter(cfg, [background], seed=7)(wave)
    assert a.dtype == np.float32 and a.shape == wave.shape
    assert np.array_equal(a, b)
    assert not np.allclose(a, wave)
    assert np.abs(a).max() <= 1.0


def test_freeze_layers_freezes_embeddings_and_first_layers(tmp_path: Path) -> None:
    from transformers import ASTForAudioClassification

    from firstcrack.models.training.tiny import tiny_ast_config

    model = ASTForAudioClassification(tiny_ast_config(layers=2))
    assert freeze_backbone(model, 1) > 0
    ast = model.audio_spectrogram_transformer
    layers = ast.layers if hasattr(ast, "layers") else ast.encoder.layer
    assert not any(p.requires_grad for p in ast.embeddings.parameters())
    assert not any(p.requires_grad for p in layers[0].parameters())
    assert all(p.requires_grad for p in layers[1].parameters())
    assert all(p.requires_grad for p in model.classifier.parameters())
    with pytest.raises(TrainError, match="only 2 layers"):
        freeze_backbone(model, 3)


def test_checkpoint_weights_are_really_reloaded(tmp_path: Path) -> None:
    """Guards the transformers-5 renaming gap: a checkpoint must load strictly, not be skipped."""
    from transformers import ASTForAudioClassification

    from firstcrack.models.training.tiny import tiny_ast_config

    torch.manual_seed(0)
    saved = ASTForAudioClassification(tiny_ast_config())
    saved.save_pretrained(tmp_path)
    torch.manual_seed(1)
    target = ASTForAudioClassification(tiny_ast_config())
    load_checkpoint_weights(target, str(tmp_path))
    for (name, a), b in zip(saved.state_dict().items(), target.state_dict().values(),
                            strict=True):
        assert torch.equal(a, b), name


def test_exactly_one_data_source_is_required(tmp_path: Path) -> None:
    with pytest.raises(TrainError, match="exactly one"):
        train(tmp_path / "m", from_scratch="tiny")


def test_cli_options_parse() -> None:
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    args = parser.parse_args(["--out", "m", "--simulate", "3,2", "--from-scratch", "tiny",
                              "--freeze-layers", "1", "--resume"])
    assert args.simulate == (3, 2) and args.freeze_layers == 1 and args.resume
    with pytest.raises(SystemExit):
        parser.parse_args(["--out", "m", "--simulate", "3"])


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    """One epoch on 3 short simulated roasts, then --resume to a second epoch."""
    out = tmp_path_factory.mktemp("train") / "model"
    common = dict(simulate=(2, 1), sim_duration=60.0, sim_seed_offset=5, from_scratch="tiny",
                  batch_size=8, progress=False, command="firstcrack train (test)")
    first = train(out, epochs=1, **common).to_json_dict()
    second = train(out, epochs=2, resume=True, **common).to_json_dict()
    return out, first, second


def test_training_writes_a_loadable_model_and_report(trained: tuple[Path, dict, dict]) -> None:
    out, first, _ = trained
    classifier = load_classifier(str(out), backend="torch")
    probs = classifier.predict(np.zeros((2, 160_000), np.float32))
    assert probs.shape == (2,) and np.all((probs >= 0) & (probs <= 1))
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "no_first_crack", "1": "first_crack"}
    report = json.loads((out / "train_report.json").read_text())
    assert report["simulated"]["crack_seeds"] == [5, 6]
    assert report["simulated"]["no_crack_seeds"] == [7]
    assert report["command"] == "firstcrack train (test)"
    assert report["split"]["splits"]["val"]["recordings"]
    assert first["epochs"][0]["epoch"] == 1.0
    assert {"f1", "precision", "recall", "accuracy", "train_loss"} <= set(first["epochs"][0])
    assert (out / "split_report.txt").is_file()
    assert (out / "preprocessor_config.json").is_file()


def test_resume_continues_from_the_last_checkpoint(trained: tuple[Path, dict, dict]) -> None:
    out, _, second = trained
    assert second["resumed_from"] and Path(second["resumed_from"]).parent == out / "checkpoints"
    assert [row["epoch"] for row in second["epochs"]] == [1.0, 2.0]


def test_existing_checkpoints_need_resume(trained: tuple[Path, dict, dict]) -> None:
    out, _, _ = trained
    with pytest.raises(TrainError, match="--resume"):
        train(out, simulate=(2, 1), sim_duration=60.0, from_scratch="tiny", epochs=1,
              progress=False)
