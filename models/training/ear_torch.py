"""The pretrained mn04 ear in torch: backbone definition, weights, front end and ONNX export.

Torch is needed here only to check, export or fine-tune the backbone; the runtime agent runs
the exported graph through models/inference/ear.py with the numpy front end
(models/inference/ear_frontend.py).

`build_mn04` is a MobileNetV3 for 1-channel log-mel input (width 0.4, 15 inverted residual
blocks, channel squeeze-excitation in blocks 4-6 and 11-15, stride 2 in blocks 2, 4, 7 and
13, an "mlp" head of 527 AudioSet logits). Module names follow the published state dict, so
the vendored `mn04_as_mAP_432.pt` loads with `strict=True`:
- `features.0`: 3x3 stride-2 stem, `features.1..15`: the blocks (`block.j` in order: expand,
  depthwise, SE as `conc_se_layers.0.fc1/fc2`, project; expand absent when it would keep the
  width), `features.16`: 1x1 conv to 384 channels;
- `classifier`: [avg-pool, flatten, Linear(384, 512), Hardswish, Dropout, Linear(512, 527)].
Batch norms use eps 1e-3. `forward(x [B, 1, 128, frames])` returns (logits [B, 527],
embedding [B, 384]), the embedding being the globally pooled features before the head;
any number of frames >= 1 works.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from firstcrack.models.inference.ear_frontend import (
    HOP_32K,
    LOG_OFFSET,
    N_FFT_32K,
    NORM_SCALE,
    NORM_SHIFT,
    PREEMPHASIS,
    WIN_32K,
    kaldi_mel_banks,
)

__all__ = ["EMBEDDING_DIM", "N_CLASSES", "PRETRAINED_DIR", "TorchMel32k", "build_mn04",
           "export_backbone_onnx", "load_pretrained_mn04", "torch_log_mel"]

PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained" / "mn04"
WEIGHTS = PRETRAINED_DIR / "mn04_as_mAP_432.pt"
N_CLASSES = 527
EMBEDDING_DIM = 384
WIDTH = 0.4
BN_EPS = 1e-3


def _divisible(value: float, divisor: int = 8) -> int:
    """Round a width to a multiple of `divisor`, never more than 10 % below `value`."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


@dataclass(frozen=True)
class _Block:
    """One inverted residual block at full width (scaled by WIDTH when built)."""

    cin: int
    kernel: int
    expanded: int
    cout: int
    se: bool
    hardswish: bool
    stride: int


# MobileNetV3-Large, strides (2, 2, 2, 2) at the C1..C4 blocks.
_BLOCKS = (
    _Block(16, 3, 16, 16, False, False, 1),
    _Block(16, 3, 64, 24, False, False, 2),
    _Block(24, 3, 72, 24, False, False, 1),
    _Block(24, 5, 72, 40, True, False, 2),
    _Block(40, 5, 120, 40, True, False, 1),
    _Block(40, 5, 120, 40, True, False, 1),
    _Block(40, 3, 240, 80, False, True, 2),
    _Block(80, 3, 200, 80, False, True, 1),
    _Block(80, 3, 184, 80, False, True, 1),
    _Block(80, 3, 184, 80, False, True, 1),
    _Block(80, 3, 480, 112, True, True, 1),
    _Block(112, 3, 672, 112, True, True, 1),
    _Block(112, 5, 672, 160, True, True, 2),
    _Block(160, 5, 960, 160, True, True, 1),
    _Block(160, 5, 960, 160, True, True, 1),
)


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1,
             act: type[nn.Module] | None = None) -> nn.Sequential:
    """Conv (no bias, 'same' padding) + BatchNorm (+ activation), named 0, 1, 2."""
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout, eps=BN_EPS, momentum=0.01),
    ]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class _ChannelSE(nn.Module):
    """Squeeze-excitation over channels: x * sigmoid(fc2(relu(fc1(mean over f, t))))."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        squeeze = _divisible(channels // 4)
        self.fc1 = nn.Linear(channels, squeeze)
        self.fc2 = nn.Linear(squeeze, channels)

    def forward(self, x: Tensor) -> Tensor:
        scale = torch.relu(self.fc1(x.mean(dim=(2, 3))))
        return x * torch.sigmoid(self.fc2(scale))[:, :, None, None]


class _SEHolder(nn.Module):
    """Keeps the published key layout `conc_se_layers.0` (one SE branch, channel axis)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conc_se_layers = nn.ModuleList([_ChannelSE(channels)])

    def forward(self, x: Tensor) -> Tensor:
        return self.conc_se_layers[0](x)


class _InvertedResidual(nn.Module):
    """Expand (1x1), depthwise (k x k, stride), optional SE, project (1x1, linear)."""

    def __init__(self, spec: _Block) -> None:
        super().__init__()
        cin, mid, cout = (_divisible(c * WIDTH) for c in (spec.cin, spec.expanded, spec.cout))
        act: type[nn.Module] = nn.Hardswish if spec.hardswish else nn.ReLU
        layers: list[nn.Module] = []
        if mid != cin:
            layers.append(_conv_bn(cin, mid, 1, act=act))
        layers.append(_conv_bn(mid, mid, spec.kernel, spec.stride, groups=mid, act=act))
        if spec.se:
            layers.append(_SEHolder(mid))
        layers.append(_conv_bn(mid, cout, 1))
        self.block = nn.Sequential(*layers)
        self.residual = spec.stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        out = self.block(x)
        return out + x if self.residual else out


class MN04(nn.Module):
    """The mn04 backbone; see the module docstring for layout and contract."""

    def __init__(self, num_classes: int = N_CLASSES) -> None:
        super().__init__()
        stem = _divisible(_BLOCKS[0].cin * WIDTH)
        last_in = _divisible(_BLOCKS[-1].cout * WIDTH)
        layers: list[nn.Module] = [_conv_bn(1, stem, 3, 2, act=nn.Hardswish)]
        layers += [_InvertedResidual(spec) for spec in _BLOCKS]
        layers.append(_conv_bn(last_in, 6 * last_in, 1, act=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        hidden = _divisible(1280 * WIDTH)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(6 * last_in, hidden),
            nn.Hardswish(), nn.Dropout(0.2), nn.Linear(hidden, num_classes),
        )
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, 0.01)
                nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        embedding = self.classifier[:2](self.features(x))
        return self.classifier[2:](embedding), embedding


def build_mn04() -> nn.Module:
    """A randomly initialised mn04 (seed torch first for a reproducible one), in eval mode."""
    return MN04().eval()


def load_pretrained_mn04(path: str | Path = WEIGHTS) -> nn.Module:
    """mn04 with the vendored AudioSet weights (every key matched), in eval mode."""
    model = MN04()
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


class TorchMel32k(nn.Module):
    """The trained front end in torch: wave [B, n] at 32 kHz -> [B, 1, 128, 1 + (n-1)//320].

    Same steps as `models.inference.ear_frontend.log_mel_32k` (which this matches to 1e-4): conv1d
    pre-emphasis [-0.97, 1], torch.stft (n_fft 1024, win 800 symmetric Hann, hop 320,
    centred), power, the shared Kaldi banks, log(x + 1e-5), (x + 4.5) / 5.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("preemphasis", torch.tensor([[[-PREEMPHASIS, 1.0]]]),
                             persistent=False)
        self.register_buffer("window", torch.hann_window(WIN_32K, periodic=False),
                             persistent=False)
        self.register_buffer("banks", torch.from_numpy(kaldi_mel_banks()), persistent=False)

    def forward(self, wave: Tensor) -> Tensor:
        x = nn.functional.conv1d(wave.unsqueeze(1), self.preemphasis).squeeze(1)
        spec = torch.stft(x, N_FFT_32K, hop_length=HOP_32K, win_length=WIN_32K,
                          window=self.window, center=True, return_complex=True)
        mel = torch.matmul(self.banks, spec.abs() ** 2)
        return ((torch.log(mel + LOG_OFFSET) + NORM_SHIFT) / NORM_SCALE).unsqueeze(1)


def torch_log_mel(wave32k: Tensor) -> Tensor:
    """`TorchMel32k` applied once to float32 [B, n] audio at 32 kHz."""
    with torch.no_grad():
        return TorchMel32k()(wave32k.float())


def export_backbone_onnx(out_path: str | Path, model: nn.Module | None = None,
                         opset: int = 17) -> Path:
    """Write the backbone as ONNX: `log_mel` [batch, 1, 128, frames] -> `logits`, `embedding`.

    Batch and frames are dynamic. The legacy (TorchScript) exporter is used; the graph is
    checked with onnx and its outputs compared with torch through onnxruntime on two shapes
    (raises AssertionError beyond 1e-3).
    """
    import onnx
    import onnxruntime as ort

    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    net = (model if model is not None else load_pretrained_mn04()).eval()
    example = torch.zeros(1, 1, 128, 100)
    with torch.no_grad():
        torch.onnx.export(
            net, (example,), str(out), input_names=["log_mel"],
            output_names=["logits", "embedding"], opset_version=opset, dynamo=False,
            dynamic_axes={"log_mel": {0: "batch", 3: "frames"}, "logits": {0: "batch"},
                          "embedding": {0: "batch"}},
        )
    onnx.checker.check_model(str(out))
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(0)
    for shape in ((2, 1, 128, 1000), (1, 1, 128, 301)):
        feats = torch.randn(shape, generator=gen) - 1.0
        with torch.no_grad():
            want = [t.numpy() for t in net(feats)]
        got = session.run(None, {"log_mel": feats.numpy()})
        for name, a, b in zip(("logits", "embedding"), got, want, strict=True):
            err = float(np.abs(a - b).max())
            assert err < 1e-3, f"ONNX {name} differs from torch by {err:.2e} for {shape}"
    return out
