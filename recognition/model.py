"""CNN + BiLSTM + CTC line recognizer.

The CNN turns a (B, 1, H, W) line image into a sequence of column features;
its pooling halves the height at every block and the width only in the first
two, so one output frame covers ``width_stride`` = 4 input pixels. A
bidirectional LSTM reads the frames and a linear layer gives per-frame class
log-probabilities (blank = 0).

The default size (about 1.8M parameters, 32 px lines) trains in minutes on
two CPU cores; a GPU run scales it by configuration (wider channels, a taller
input, more LSTM units).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, TypeVar

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


@dataclass(frozen=True)
class ModelConfig:
    num_classes: int
    height: int = 48
    # Otsu-binarise lines before scaling (for bilevel training data, or noisy
    # scans); part of the model's input spec, so inference does the same.
    binarize: bool = False
    # One entry per conv block: (out_channels, pool_width). Every block halves
    # the height; pool_width 2 also halves the width.
    blocks: tuple[tuple[int, int], ...] = ((32, 2), (64, 2), (96, 1), (128, 1))
    lstm_hidden: int = 192
    lstm_layers: int = 2
    dropout: float = 0.2
    # A 1-D convolutional CTC head on the CNN features, trained beside the
    # LSTM head ("CTC shortcut", Retsinas et al. 2022): it gives the CNN a
    # direct gradient and shortens CTC's initial all-blank plateau.
    shortcut: bool = True

    def __post_init__(self) -> None:
        if self.num_classes < 2:
            raise ValueError("num_classes counts the blank and at least one character")
        if self.height % (2 ** len(self.blocks)) != 0:
            raise ValueError(f"height {self.height} must be divisible by 2**{len(self.blocks)}")

    @property
    def width_stride(self) -> int:
        stride = 1
        for _, pool_width in self.blocks:
            stride *= pool_width
        return stride

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "blocks" in values:
            values["blocks"] = tuple(tuple(block) for block in values["blocks"])
        return cls(**values)

    def with_classes(self, num_classes: int) -> ModelConfig:
        return ModelConfig(**{**asdict(self), "num_classes": num_classes, "blocks": self.blocks})


class ConvBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, pool_width: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(out_channels)
        self.act = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(kernel_size=(2, pool_width), stride=(2, pool_width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.act(self.norm(self.conv(x))))


class CRNN(nn.Module):
    """(B, 1, H, W) images -> (T, B, C) log-probabilities, T = W // width_stride."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        channels = 1
        for out_channels, pool_width in config.blocks:
            layers.append(ConvBlock(channels, out_channels, pool_width))
            channels = out_channels
        self.cnn = nn.Sequential(*layers)
        feature_height = config.height // (2 ** len(config.blocks))
        self.dropout = nn.Dropout(config.dropout)
        self.rnn = nn.LSTM(
            input_size=channels * feature_height,
            hidden_size=config.lstm_hidden,
            num_layers=config.lstm_layers,
            bidirectional=True,
            dropout=config.dropout if config.lstm_layers > 1 else 0.0,
        )
        self.head = nn.Linear(2 * config.lstm_hidden, config.num_classes)
        self.shortcut = (
            nn.Conv1d(channels * feature_height, config.num_classes, kernel_size=3, padding=1)
            if config.shortcut
            else None
        )

    def output_lengths(self, widths: torch.Tensor) -> torch.Tensor:
        """Frames per line for input widths (B,); every line gets at least one frame."""
        return torch.clamp(widths // self.config.width_stride, min=1)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) -> (T, B, F) column features, F = channels * H'."""
        x = self.cnn(images)  # (B, C', H', T)
        b, c, h, t = x.shape
        return x.permute(3, 0, 1, 2).reshape(t, b, c * h)

    def forward(self, images: torch.Tensor, widths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 1, H, W) images, optional true widths (B,) -> (T, B, C) log-probs.

        With ``widths`` the LSTM runs on packed sequences, so a line's output
        does not depend on how much padding its batch neighbours forced on it.
        Without them (training on width-bucketed batches, export, single
        lines) every column counts; packing costs a third more time on CPU.
        """
        return self._forward(images, widths)[0]

    def forward_train(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Main and shortcut (T, B, C) log-probs; the shortcut is None when disabled."""
        return self._forward(images, None, with_shortcut=True)

    def forward_with_embeddings(
        self, images: torch.Tensor, widths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(T, B, C) log-probs (as :meth:`forward`) and (B, 2 * lstm_hidden) line embeddings.

        A line's embedding is the mean of its BiLSTM outputs over its valid
        frames (all frames without ``widths``): the model's own summary of the
        line, for diversity-aware selection. Pooling costs one reduction, so
        scoring with embeddings runs as fast as without.
        """
        main, hidden = self.sequence(self.features(images), widths)
        return main, self.pool(hidden, widths)

    def sequence(self, features: torch.Tensor, widths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(T, B, F) CNN features -> (T, B, C) log-probs and the (T, B, 2 * lstm_hidden) BiLSTM outputs.

        Separate from :meth:`features` so MC dropout can run the CNN once and
        only the stochastic part (dropout, LSTM, head) K times.
        """
        return self._sequence(self.dropout(features), widths)

    def pool(self, hidden: torch.Tensor, widths: torch.Tensor | None = None) -> torch.Tensor:
        """(T, B, D) per-frame outputs -> (B, D) means over each line's valid frames."""
        if widths is None:
            return hidden.mean(dim=0)
        lengths = torch.clamp(self.output_lengths(widths), max=hidden.shape[0]).to(hidden.device)
        mask = (torch.arange(hidden.shape[0], device=hidden.device)[:, None] < lengths[None, :]).to(hidden.dtype)
        return (hidden * mask[:, :, None]).sum(dim=0) / lengths[:, None].to(hidden.dtype)

    def _sequence(self, x: torch.Tensor, widths: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        if widths is None:
            y, _ = self.rnn(x)
        else:
            lengths = torch.clamp(self.output_lengths(widths), max=x.shape[0]).cpu()
            packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
            y_packed, _ = self.rnn(packed)
            y, _ = pad_packed_sequence(y_packed, total_length=x.shape[0])
        return torch.log_softmax(self.head(self.dropout(y)), dim=-1), y

    def _forward(
        self, images: torch.Tensor, widths: torch.Tensor | None, *, with_shortcut: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        features = self.features(images)  # (T, B, F)
        x = self.dropout(features)
        main, _ = self._sequence(x, widths)
        aux = None
        if with_shortcut and self.shortcut is not None:
            # Conv1d wants (B, F, T); back to (T, B, C) for CTC.
            aux = torch.log_softmax(self.shortcut(x.permute(1, 2, 0)).permute(2, 0, 1), dim=-1)
        return main, aux

    def widen_output(self, mapping: list[int]) -> None:
        """Rebuild the output layers for a grown alphabet.

        ``mapping[new_label]`` is the old label whose weights it inherits, or
        -1 for a new character; those start from the lowest old bias, so the
        fine-tuned model does not start by emitting them everywhere.
        """
        self.head = _widened(self.head, mapping)
        if self.shortcut is not None:
            self.shortcut = _widened(self.shortcut, mapping)
        self.config = self.config.with_classes(len(mapping))


_Head = TypeVar("_Head", nn.Linear, nn.Conv1d)


def _widened(layer: _Head, mapping: list[int]) -> _Head:
    new: nn.Linear | nn.Conv1d
    if isinstance(layer, nn.Linear):
        new = nn.Linear(layer.in_features, len(mapping))
    else:
        new = nn.Conv1d(
            layer.in_channels, len(mapping), kernel_size=layer.kernel_size[0], padding=layer.kernel_size[0] // 2
        )
    new = new.to(layer.weight.device, layer.weight.dtype)
    assert layer.bias is not None
    assert new.bias is not None
    with torch.no_grad():
        nn.init.normal_(new.weight, std=0.01)
        new.bias.fill_(float(layer.bias.min()))
        for new_label, old_label in enumerate(mapping):
            if old_label >= 0:
                new.weight[new_label] = layer.weight[old_label]
                new.bias[new_label] = layer.bias[old_label]
    return new


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# Named sizes for the CLI and the app. "cpu" trains on two cores in minutes:
# 32 px lines run twice as fast as 48 px and, in a fixed CPU budget on the
# hooker handwriting, reached a lower CER (0.62 vs 0.86 after five minutes on
# one core each); "gpu" is the same architecture, wider and taller.
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"height": 32, "blocks": ((16, 2), (32, 2), (48, 1)), "lstm_hidden": 64, "lstm_layers": 1},
    "cpu": {"height": 32, "blocks": ((32, 2), (64, 2), (96, 1), (128, 1)), "lstm_hidden": 192, "lstm_layers": 2},
    "gpu": {"height": 64, "blocks": ((64, 2), (128, 2), (192, 1), (256, 1)), "lstm_hidden": 384, "lstm_layers": 3},
}
