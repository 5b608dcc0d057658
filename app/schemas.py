"""Pydantic models for every response, so `/docs` is the API reference."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_serializer


class Compact(BaseModel):
    """A response part whose optional fields are left out when unset (`None`), as the contract
    shows them: an array's `scale`/`offset` only with uint8, a prediction's `positive` only for
    multilabel heads, and so on."""

    @model_serializer(mode="wrap")
    def _omit_unused(self, handler):
        return {key: value for key, value in handler(self).items() if value is not None}


class ArrayOut(Compact):
    """An n-d array: C-order little-endian bytes in base64 (default) or nested lists (`encoding=list`)."""

    shape: list[int]
    dtype: str = Field(description="float32 (exact, default), float16, or uint8 with scale/offset")
    data: str | list = Field(description="base64 of the raw bytes, or nested lists with encoding=list")
    scale: float | None = Field(None, description="uint8 only: value = data * scale + offset")
    offset: float | None = None


class Health(BaseModel):
    status: str = "ok"
    models: int
    warm_up: dict | None = Field(
        None, description="readiness: the background warm-up (app/warm.py): state off, running, done or stopped; models_done; functions_built; routes_prepared"
    )


class ModelSummary(BaseModel):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    description: str
    input_shape: list[int] = Field(description="[H, W, C]")
    input_range: list[float] = Field(description="[low, high] of the values the model takes")
    classes: list[str] = Field(description="one label per output unit")
    parameters: int
    kind: str = Field(description='"digits" (MNIST-style) or "image"')
    head: str = Field(
        description="softmax; sigmoid (one unit: classes 0 and 1, P(0) = 1 - P(1)); multilabel (independent "
        "sigmoids); logits (no final activation: probabilities are their softmax)"
    )
    input_size_from: str = Field(
        description='where the served input size comes from: "model" (fixed in the model), "card" (its '
        '"input_size") or "default" (224x224, for a model built for any size without a card size)'
    )
    card: dict = Field(default_factory=dict, description="the rest of the model card (accuracy, training)")


class SkippedModel(BaseModel):
    file: str = Field(description="the file's name in the models folder")
    reason: str = Field(description="why it is not served")


class ModelList(BaseModel):
    models: list[ModelSummary]
    skipped: list[SkippedModel] = Field(
        default_factory=list, description="files in the models folder that are not served, with the reason"
    )


class LayerConfig(BaseModel):
    filters: int | None = None
    units: int | None = None
    kernel_size: list[int] | None = None
    strides: list[int] | None = None
    padding: str | None = None
    activation: str | None = None
    pool_size: list[int] | None = None
    dilation_rate: list[int] | None = None


class ReceptiveFieldOut(BaseModel):
    size: list[int] = Field(description="[h, w] input pixels one unit reads")
    jump: list[int] = Field(description="[h, w] input pixels between neighbouring units")
    start: list[int] = Field(description="[y, x] top-left input pixel of unit (0, 0)'s field; negative = padding")


class LayerInfo(BaseModel):
    name: str = Field(description="Keras name; `outer/inner` for a layer inside a nested model")
    class_name: str
    kind: str = Field(
        description="conv, pool, global_pool, dense, flatten, reshape, padding, merge, normalization, activation, "
        "regularization, model or other"
    )
    spatial: bool = Field(description="whether the output is an [h, w, c] feature map")
    active_at_inference: bool = Field(
        description="false for dropout, noise and data-augmentation layers: they pass their input through when predicting"
    )
    receptive_field: ReceptiveFieldOut | None = Field(
        None, description="where one unit looks in the input, along a chain of convolutions and pools"
    )
    output_shape: list[int | None]
    parameters: int
    inbound: list[str] = Field(description='layers feeding this one; "input" is the model input')
    config: LayerConfig
    parent: str | None = Field(None, description="the nested model this layer belongs to, if any")
    is_container: bool = Field(False, description="a nested model, listed after its own layers")


class BrowserSupport(BaseModel):
    """Whether the page computes this model's live view itself (docs/api.md, "The page's engine")."""

    supported: bool = Field(description="the page runs the forward pass in the browser; else the server does")
    reason: str = Field(description="why not (the first layer or limit that stops it), or that every layer runs")
    multiply_adds: int = Field(description="multiply-adds of one forward pass (0 when a layer is not supported)")
    weight_bytes: int = Field(description="bytes of the page's weights download (float32)")


class ModelDetail(ModelSummary):
    layers: list[LayerInfo]
    default_gradcam_layer: str | None
    browser: BrowserSupport


class PageLayer(BaseModel):
    name: str
    kind: str = Field(description="the page's module that computes it: static/js/engine/<kind>.js")
    class_name: str
    inbound: list[str] = Field(description='the layers it reads, in order, repeats kept; "input" is the model input')
    output_shape: list[int]
    config: dict = Field(description="what the computation needs: strides, padding, activation, ...")
    weights: dict[str, dict] = Field(description='{weight name: {"offset": bytes into the download, "shape": [...]}}')


class PageGraph(BrowserSupport):
    """The model as the page's engine runs it; the weights are one download beside it."""

    input_shape: list[int]
    input_range: list[float]
    head: str
    weights_url: str = Field(description="GET it once: little-endian float32, every weight at its offset")
    weights_etag: str = Field(description="the download's ETag: the page asks again with If-None-Match")
    layers: list[PageLayer]


class MethodInfo(BaseModel):
    name: str
    title: str
    endpoint: str = Field(description="POST /api/models/{id}/<endpoint> serves it")
    params: dict[str, str] = Field(description="query parameters that select it on its endpoint")
    long_job: bool = Field(description="many forward passes: can stream progress, may get 503 when busy")
    reference: str = Field(description="the paper")
    warning: str | None = None
    options: dict = Field(description="JSON schema of each option (type, default, bounds, description)")


class MethodList(BaseModel):
    methods: list[MethodInfo]


class LayerWeights(BaseModel):
    layer: str
    kernel: ArrayOut | None
    bias: ArrayOut | None
    variables: dict[str, ArrayOut] = Field(description="every weight of the layer by its Keras name")


class TopClass(BaseModel):
    index: int
    label: str
    probability: float


class Prediction(Compact):
    probabilities: list[float] = Field(description="one per class: softmax, sigmoid pairs (1 - p, p), or independent sigmoids")
    top: list[TopClass] = Field(description="up to 5 classes, most probable first")
    positive: list[TopClass] | None = Field(None, description="multilabel heads only: every label above 0.5")


class CropBox(BaseModel):
    left: int
    top: int
    width: int
    height: int


class PreprocessingStep(BaseModel):
    name: str = Field(description="ink, threshold, crop, box or field")
    title: str = Field(description="what the step did, with its numbers")
    png: str = Field(description="data:image/png;base64 of the step, ink white on black; for crop, the box on the ink map")
    array: ArrayOut = Field(
        description="the step's values (for crop, the ink inside the box); field is exactly what the model is given, before input_range"
    )


class Preprocessing(Compact):
    """What `preprocess` did. For `digit`: the path it took and why, and its measurements."""

    mode: str = Field(description="the preprocess mode used: digit, resize or none (auto resolved)")
    path: str | None = Field(None, description="digit: mnist_like, flat_background or uneven_background")
    reason: str | None = Field(None, description="digit: why that path, with the measurement that decided it")
    polarity: str | None = None
    background: list[float] | None = Field(None, description="the background colour found, in the picture's channels")
    unevenness: float | None = Field(None, description="drift of the background across the picture / ink contrast")
    rulings_removed: int | None = None
    threshold: float | None = Field(None, description="Otsu's threshold on the ink map (peak 1)")
    crop_box: CropBox | None = Field(None, description="the digit's box in the uploaded picture's pixels")
    blank: bool | None = Field(None, description="no ink found: the field is blank")
    box_size: list[int] | None = Field(None, description="[h, w] of the digit scaled to the 20 px box")
    thickened: int | None = Field(None, description="dilation radius given to thin pen lines, in work pixels")
    shift: list[float] | None = Field(None, description="[dy, dx] that put the centre of mass at (14, 14)")
    steps: list[PreprocessingStep] | None = Field(None, description="with explain_preprocessing=true")


class PredictResponse(BaseModel):
    input: ArrayOut = Field(description="the exact [H, W, C] array fed to the model")
    prediction: Prediction
    preprocessing: Preprocessing | None = Field(
        None, description="predict and activations: what preprocess did (for digit, its path; steps on request)"
    )

    @model_serializer(mode="wrap")
    def _omit_unused(self, handler):
        """`preprocessing` appears only where the endpoint reports it."""
        data = handler(self)
        if data.get("preprocessing") is None:
            data.pop("preprocessing", None)
        return data


class LayerActivation(Compact):
    name: str
    class_name: str
    shape: list[int] = Field(description="the shape sent: reduced with max_side, channels selected with channels")
    min: float
    max: float
    activations: ArrayOut
    full_shape: list[int] | None = Field(None, description="with max_side: the layer's own output shape, when reduced")
    channels: list[int] | None = Field(None, description="with channels: the channel indices sent, in order")


class ActivationsResponse(PredictResponse):
    layers: list[LayerActivation]


class ReadDigit(BaseModel):
    label: str = Field(description="the class read: the most probable")
    confidence: float = Field(description="its probability")
    box: CropBox = Field(description="the digit's box in the picture's pixels, as sent")
    prediction: Prediction
    field: ArrayOut = Field(description="its 28x28 MNIST field in [0, 1]: send it as pixels to see it in the network view")
    png: str = Field(description="the field as a PNG data URL")
    pieces: int = Field(description="connected components merged into it (a broken stroke gives 2 or more)")
    split: bool = Field(description="cut out of a component holding touching digits")


class ReadSize(BaseModel):
    width: int
    height: int


class ReadResponse(BaseModel):
    model: str
    text: str = Field(description="the digits' labels left to right")
    digits: list[ReadDigit]
    ignored: int = Field(description="marks that were not digits: specks, dashes, dots, underlines")
    size: ReadSize = Field(description="the picture's size as sent")
    path: str = Field(description="how the ink map was made: flat_background or uneven_background (as for one digit)")
    threshold: float | None = Field(None, description="Otsu's threshold on the ink map (peak 1); null for a blank picture")


class ErrorResponse(BaseModel):
    detail: str


class FaithfulnessCurve(BaseModel):
    auc: float = Field(description="area under the curve over the fraction of pixels changed, in [0, 1]")
    curve: list[float] = Field(description="the class probability at each fraction")


class Faithfulness(BaseModel):
    steps: int
    fractions: list[float] = Field(description="fraction of the pixels changed at each point: 0, 1/steps, .., 1")
    blur_sigma: float = Field(description="Gaussian sigma in pixels of the blurred input insertion starts from")
    deletion: FaithfulnessCurve = Field(description="top-ranked pixels set to the fill first: lower is more faithful")
    insertion: FaithfulnessCurve = Field(description="top-ranked pixels restored onto the blurred input first: higher is more faithful")


class Explanation(BaseModel):
    """Every part that `fields=` can leave out is optional; the rest is always sent."""

    input: ArrayOut | None = Field(None, description="the exact [H, W, C] array fed to the model")
    prediction: Prediction | None = None
    class_index: int
    label: str
    heatmap: ArrayOut | None = Field(None, description="[H, W] in [0, 1] at the input size")
    overlay: str | None = Field(None, description="data:image/png;base64 of the heatmap (inferno) over the input")
    faithfulness: Faithfulness | None = Field(None, description="with faithfulness=true: deletion and insertion (Petsiuk et al. 2018)")


class GradcamResponse(Explanation):
    method: str
    layer: str
    raw: ArrayOut | None = Field(
        None,
        description="[h, w] at the layer's resolution, unnormalised: ReLU(sum_k w_k A_k) with each method's weights; "
        "guided_gradcam: [H, W, C], guided backprop times the upsampled Grad-CAM heatmap",
    )
    channels: int | None = Field(None, description="scorecam: channels scored (all, or max_channels of the largest variance)")
    normalise_alpha: bool | None = Field(None, description="gradcam++: alpha divided by its spatial sum per channel")


class OcclusionResponse(Explanation):
    patch: int
    stride: int
    fill: float
    positions: int
    grid: ArrayOut | None = Field(None, description="[rows, cols]: p_K(original) - p_K(occluded) per patch position")


class SaliencyResponse(Explanation):
    method: str
    raw: ArrayOut | None = Field(
        None,
        description="gradient, smoothgrad, rise: [H, W]; integrated_gradients, guided_backprop: [H, W, C] signed",
    )
    absolute: bool | None = None
    samples: int | None = None
    noise_level: float | None = None
    steps: int | None = None
    baseline: float | None = None
    attribution_sum: float | None = Field(None, description="integrated_gradients: sum of the attributions")
    score_difference: float | None = Field(None, description="integrated_gradients: S(input) - S(baseline)")
    completeness_gap: float | None = Field(
        None, description="integrated_gradients: |attribution_sum - score_difference| / |score_difference|"
    )
    masks: int | None = Field(None, description="rise: random masks averaged")
    cell: int | None = Field(None, description="rise: mask grid side, in cells")
    probability: float | None = Field(None, description="rise: probability that a cell is kept")
    seed: int | None = None


class FilterResponse(BaseModel):
    layer: str
    filter: int
    pattern: ArrayOut = Field(description="[H, W, C], the generated input, in the model's input range")
    activation: float = Field(description="mean activation of the channel for this pattern")
    parameterization: str = Field(description="pixel or fourier: how the image was optimised")
    png: str = Field(description="data:image/png;base64 of the pattern, scaled to its own range")


class AtlasResponse(BaseModel):
    layer: str
    count: int
    activations: list[float] = Field(description="mean activation each channel reaches on its own pattern")
    patterns: ArrayOut = Field(description="[N, H, W, C], one pattern per channel")
    parameterization: str = Field(description="pixel or fourier: how the images were optimised")
    png: str = Field(description="data:image/png;base64 of all patterns in a grid, row by row")


class ReferenceImage(BaseModel):
    index: int = Field(description="position in the reference set")
    source_index: int = Field(description="position in the source data set (e.g. the MNIST test set)")
    label: str
    png: str = Field(description="data:image/png;base64 thumbnail")


class TopExample(ReferenceImage):
    activation: float


class TopExamplesResponse(BaseModel):
    layer: str
    unit: int
    examples: list[TopExample]


class Neighbour(ReferenceImage):
    distance: float


class NeighboursResponse(PredictResponse):
    layer: str
    neighbors: list[Neighbour]


class EmbeddingResponse(BaseModel):
    layer: str
    method: str
    points: ArrayOut = Field(description="[N, 2] map positions of the reference images")
    labels: list[int] = Field(description="class index of each reference image")


class MapProgressResponse(BaseModel):
    """202 from `/embedding` and `/embedding/place` while the map is being computed."""

    status: str = Field(description='"computing"')
    stage: str = Field(description="features (the reference images through the model) or layout (t-SNE)")
    iterations: int = Field(description="t-SNE iterations done, counted in steps of 50")
    of: int = Field(description="t-SNE iterations in all")
    progress: float = Field(description="iterations / of, 0 to 1")
    elapsed_seconds: float = Field(description="since the computation started")
    detail: str


class PlacementResponse(PredictResponse):
    layer: str
    point: list[float] = Field(description="[x, y] on the map")
    neighbors: list[int] = Field(description="reference indices whose map positions placed it")
    nearest: list[Neighbour] | None = Field(None, description="with ?nearest=k: the k nearest reference images in the map's layer")

    @model_serializer(mode="wrap")
    def _omit_unused(self, handler):
        """`nearest` appears only when asked for (and `preprocessing` as in every prediction)."""
        data = handler(self)
        for key in ("preprocessing", "nearest"):
            if data.get(key) is None:
                data.pop(key, None)
        return data
