"""The checkpoint format: safetensors weights (pretrained matrices as int8) + JSON metadata (ModelInfo);
save_model, and load_model, which refuses pickles and explains a bad file in one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .architectures import (
    ARCHITECTURES,
    ArchitectureConfig,
    LanguageModel,
    ModelConfig,
    WhisperGRU,
    WhisperLID,
    WhisperLIDConfig,
    build_model,
)
from .calibration import Calibration
from .checkpoint import MODEL_NAMES, ModelError, model_path
from .encoder import INT8_KEEP, EncoderConfig
from .features import FeatureConfig
from .int8 import int8_layer_names, load_packed_state, pack_int8, without_init

FORMAT = "streamlid-model"
FORMAT_VERSION = 1


@dataclass
class ModelInfo:
    languages: list[str]
    config: ArchitectureConfig
    features: FeatureConfig = field(default_factory=FeatureConfig)
    version: str = "0"
    training: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    calibration: Calibration = field(default_factory=Calibration)
    # Linear layers `--int8` keeps in float32: those whose int8 error the model's outputs amplify
    int8_float_layers: list[str] = field(default_factory=list)
    # whether the model runs in int8 on the CPU unless told otherwise: set where int8 was measured as
    # accurate as float32 (model card)
    int8_default: bool = False

    def runs_int8(self, asked: bool | None) -> bool:
        """Whether the model runs in int8 on the CPU: as asked, or (None) as the model chooses."""
        return self.int8_default if asked is None else asked

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "version": self.version,
            "languages": self.languages,
            "architecture": {"name": self.config.name, **self.config.to_dict()},
            "features": self.features.to_dict(),
            "training": self.training,
            "metrics": self.metrics,
            "calibration": self.calibration.to_dict(),
            "int8_float_layers": self.int8_float_layers,
            "int8_default": self.int8_default,
        }


def has_speech_check(info: ModelInfo) -> bool:
    """Whether the model's scores carry a last column, log p(no speech): a calibrated speech check on a
    WhisperLID model's language step."""
    return info.calibration.speech_check and info.config.name == WhisperLIDConfig.name


def metadata_path(weights: Path) -> Path:
    return weights.with_suffix(".json")


def save_model(model: LanguageModel, info: ModelInfo, path: str | Path) -> Path:
    """Weights (a pretrained encoder's matrices as int8 with group scales, see pack_int8) + JSON metadata."""
    from safetensors.torch import save_file

    path = Path(path).with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    pretrained = ("encoder.", "step.")  # Whisper's parts: int8 but for the encoder's first layers
    if isinstance(model, WhisperGRU | WhisperLID):
        packed = pack_int8(
            {k: v for k, v in state.items() if k.startswith(pretrained)}, keep=tuple("encoder." + k for k in INT8_KEEP)
        )
        state = {**{k: v for k, v in state.items() if not k.startswith(pretrained)}, **packed}
    save_file(state, str(path), metadata={"format": FORMAT})
    metadata_path(path).write_text(json.dumps(info.to_json(), indent=2, ensure_ascii=False) + "\n")
    return path


def load_model(path: str | Path | None = None, int8: bool | None = False) -> tuple[LanguageModel, ModelInfo]:
    """Load weights and metadata; raises ModelError with a one-line reason on any problem. With `int8`
    (None: if the model's metadata chooses it, `int8_default`), the Linear layers are quantised for the
    CPU as they load (int8.quantized_int8's layers), and the float32 model is never resident whole.

    `path` may name the .safetensors file or its .json metadata, be a shipped model's short name (base,
    base) or None for the default model.
    Weights are read with safetensors, which cannot execute code (no pickle).
    """
    from safetensors import SafetensorError

    weights = model_path(path)
    if weights.suffix == ".json":
        weights = weights.with_suffix(".safetensors")
    meta_file = metadata_path(weights)
    if not weights.is_file():
        names = ", ".join(MODEL_NAMES)
        raise ModelError(f"model file not found: {weights} (the shipped model names: {names})")
    if not meta_file.is_file():
        raise ModelError(f"model metadata not found: {meta_file} (expected next to the weights)")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"model metadata {meta_file} is not valid JSON: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelError(f"{meta_file} is not a streamlid model description")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ModelError(f"{weights} needs a newer streamlid (format {meta['format_version']})")
    try:
        arch = dict(meta["architecture"])
        name = arch.pop("name", ModelConfig.name)
        if name not in ARCHITECTURES:
            raise ModelError(
                f"{meta_file}: unknown architecture {name!r} (this streamlid knows {', '.join(ARCHITECTURES)})"
            )
        info = ModelInfo(
            languages=list(meta["languages"]),
            config=ARCHITECTURES[name][0].from_dict(arch),
            features=FeatureConfig(**meta.get("features", {})),
            version=str(meta.get("version", "0")),
            training=meta.get("training", {}),
            metrics=meta.get("metrics", {}),
            calibration=Calibration.from_dict(meta.get("calibration", {})),
            int8_float_layers=list(meta.get("int8_float_layers", [])),
            int8_default=bool(meta.get("int8_default", False)),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(f"{meta_file} has an incomplete model description: {e}") from None
    if info.config.n_languages != len(info.languages):
        raise ModelError(f"{meta_file}: {len(info.languages)} languages but {info.config.n_languages} outputs")
    width = EncoderConfig(**info.config.encoder).width if info.config.name == WhisperLIDConfig.name else 0
    if has_speech_check(info) and len(info.calibration.no_speech_weights) != width:
        raise ModelError(
            f"{meta_file}: the speech check has {len(info.calibration.no_speech_weights)} weights, the model's"
            f" language step {width} hidden units"
        )
    try:
        state = TensorFile(weights)
    except (SafetensorError, OSError, ValueError) as e:
        reason = (
            "a pickled checkpoint, not safetensors; refused (unpickling can run code)" if _looks_pickled(weights) else e
        )
        raise ModelError(f"cannot read model weights {weights}: {reason}") from None
    try:
        with without_init():  # every weight comes from the file
            model = build_model(info.config, info.features)
        layers = int8_layer_names(model, tuple(info.int8_float_layers)) if info.runs_int8(int8) else ()
        load_packed_state(model, state, layers)
    except SafetensorError as e:
        raise ModelError(f"cannot read model weights {weights}: {e}") from None
    except (RuntimeError, ValueError, KeyError, TypeError) as e:
        first = str(e).strip().splitlines()[0]
        raise ModelError(f"{weights} does not match its metadata: {first}") from None
    model.eval()
    return model, info


class TensorFile:
    """A safetensors file's tensors, read one at a time as `pop` takes them (the container load_packed_state
    empties): the whole file is never resident beside the model (a mapping of it all would be, ~45 MB
    for streamlid-v4, once every page was touched)."""

    def __init__(self, path: Path) -> None:
        from safetensors import safe_open

        self.path = str(path)
        with safe_open(self.path, "pt") as f:
            self.names = set(f.keys())

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self.names))

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def pop(self, name: str) -> torch.Tensor:
        from safetensors import safe_open

        self.names.remove(name)
        with safe_open(self.path, "pt") as f:  # closed at once: the pages read are not kept mapped
            return f.get_tensor(name).clone()


def _looks_pickled(path: Path) -> bool:
    """A pickle (protocol 2+) or torch.save's zip of pickles, judged by the first bytes only."""
    with path.open("rb") as f:
        head = f.read(2)
    return (head[:1] == b"\x80" and head[1:] in (b"\x02", b"\x03", b"\x04", b"\x05")) or head == b"PK"
