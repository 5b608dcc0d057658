"""Request options and responses of the lesson endpoints (app/api/lessons.py)."""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field

from app.lessons.kernels import MAX_KERNEL_SIDE, MAX_STRIDE
from app.schemas import ArrayOut


class PaddingMode(str, Enum):
    valid = "valid"
    same = "same"


class KernelActivation(str, Enum):
    none = "none"
    relu = "relu"


class KernelOptions(BaseModel):
    """What to slide, over which map, how. Give `kernel` or `preset` (default: the identity)."""

    model_config = ConfigDict(extra="forbid")
    kernel: list[list[float]] | None = Field(
        None, description=f"rows of numbers, 1 to {MAX_KERNEL_SIDE} a side (query: '1,0,-1;2,0,-2;1,0,-1')"
    )
    preset: str | None = Field(None, description="a preset name from GET .../kernel/presets, e.g. sobel_x or learned:3")
    stride: int = Field(1, ge=1, le=MAX_STRIDE)
    padding: PaddingMode = PaddingMode.valid
    activation: KernelActivation = KernelActivation.none
    layer: str | None = Field(None, description="whose output to filter; default: the model input")
    channel: int = Field(0, ge=0, description="which channel of the input or of the layer's output")


class Paddings(BaseModel):
    top: int
    bottom: int
    left: int
    right: int


class KernelResponse(BaseModel):
    source: str = Field(description="'input' or the layer whose output was filtered")
    channel: int
    source_map: ArrayOut = Field(description="the map the kernel slid over, [h, w]")
    kernel: list[list[float]]
    preset: str | None
    stride: int
    padding: PaddingMode
    paddings: Paddings
    activation: KernelActivation
    output_size: list[int] = Field(description="[rows, columns] = floor((W - K + 2P) / S) + 1 per axis")
    formula: list[str] = Field(description="the output-size formula with the numbers filled in, rows then columns")
    feature_map: ArrayOut
    png: str = Field(description="the feature map in grey (min to max), enlarged: data:image/png;base64,...")


class KernelPreset(BaseModel):
    name: str
    label: str
    kernel: list[list[float]]
    learned: bool = False


class KernelPresets(BaseModel):
    presets: list[KernelPreset]
    learned_from: str | None = Field(description="the first Conv2D layer, whose kernels are the learned presets")


class PoolPanel(BaseModel):
    kind: str = Field(description="max, average or l2 (sqrt of the sum of squares)")
    pooled: ArrayOut
    own: bool = Field(description="this is the pooling the model itself applies after the layer, at the same window and stride")


class OwnPooling(BaseModel):
    layer: str
    kind: str
    window: int
    stride: int


class PoolResponse(BaseModel):
    source: str
    channel: int
    source_map: ArrayOut
    window: int
    stride: int
    output_size: list[int]
    panels: list[PoolPanel]
    own_pooling: OwnPooling | None = Field(description="the pooling layer that follows this layer in the model, if any")


class SweepTransform(str, Enum):
    rotate = "rotate"
    shift_x = "shift_x"
    shift_y = "shift_y"
    zoom = "zoom"
    shear = "shear"


class SweepResponse(BaseModel):
    transform: SweepTransform
    values: list[float]
    base: dict[str, float | bool] = Field(description="the other transforms, applied to every input")
    classes: list[str]
    inputs: list[ArrayOut]
    probabilities: list[list[float]]


class SeparableCost(BaseModel):
    kernel_size: list[int]
    in_channels: int
    out_channels: int
    conv_weights: int
    depthwise_weights: int
    pointwise_weights: int
    separable_weights: int
    biases: int
    conv_parameters: int
    separable_parameters: int
    ratio: float


class SummaryRow(BaseModel):
    name: str
    class_name: str
    output_shape: list[int | None]
    parameters: int
    trainable: int
    non_trainable: int
    separable: SeparableCost | None


class ModelSummaryTable(BaseModel):
    model: str
    layers: list[SummaryRow]
    total: int
    trainable: int
    non_trainable: int
    total_bytes: int
