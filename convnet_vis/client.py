"""`Client`: one method per endpoint of docs/api.md, for scripts and notebooks.

Every method sends what the REST API takes and returns the answer with its arrays as numpy
float32 arrays and its PNGs as PIL images (`convnet_vis.arrays.decode`), so a notebook compares a
server's numbers with Keras's directly. Arrays travel as base64 float32 (exact) unless `dtype`
says otherwise. A refusal raises `ConvnetVisError` with the server's status and `detail`.

An image argument may be a numpy array (`[H, W]` or `[H, W, C]` in [0, 1], sent as the
`pixels` form at the model's input size), a PIL image, a file's bytes, or a path to a file.
Only the standard library speaks HTTP here: the client adds no dependency to a notebook.
The long jobs (Score-CAM, occlusion, SmoothGrad, Integrated Gradients, RISE, a filter atlas)
take `progress=callback`: the request is then streamed and `callback(done, total)` is called as
the server reports.
"""

from __future__ import annotations

import io
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Iterator, Sequence, Union

import numpy as np

from convnet_vis.arrays import decode
from convnet_vis.errors import ConvnetVisError

__all__ = ["Client", "ImageLike"]

ImageLike = Union[np.ndarray, "PIL.Image.Image", bytes, str, os.PathLike]  # noqa: F821


def _query(options: dict[str, Any]) -> str:
    pairs = {}
    for key, value in options.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            value = ",".join(str(item) for item in value)
        pairs[key] = str(value)
    return "?" + urllib.parse.urlencode(pairs) if pairs else ""


def _image_body(image: ImageLike) -> tuple[bytes, str]:
    """The body form that keeps the caller's values: arrays as exact `pixels`, files as bytes."""
    if isinstance(image, np.ndarray):
        return json.dumps({"pixels": np.asarray(image, dtype=np.float64).tolist()}).encode(), "application/json"
    if isinstance(image, (bytes, bytearray)):
        return bytes(image), "application/octet-stream"
    if isinstance(image, (str, os.PathLike)):
        with open(image, "rb") as file:
            return file.read(), "application/octet-stream"
    if hasattr(image, "save"):  # a PIL image, sent losslessly
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue(), "image/png"
    raise TypeError(f"an image is a numpy array, a PIL image, bytes or a path, not {type(image).__name__}")


def _read_events(response, progress: Callable[[int, int], None] | None) -> Any:
    """A progress stream (docs/api.md, "Progress streams"): calls `progress(done, total)` for each
    report and returns the result; a failure after the start raises with its status and detail."""
    event, data = "message", []
    for line in response:
        line = line.decode("utf-8").rstrip("\r\n")
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            payload = json.loads("\n".join(data))
            if event == "result":
                return payload
            if event == "error":
                raise ConvnetVisError(payload.get("status", 500), payload.get("detail", ""))
            if event == "progress" and progress is not None:
                progress(payload["done"], payload["total"])
            event, data = "message", []
    raise ConvnetVisError(502, "the progress stream ended without a result")


class Client:
    """A convnet-vis server at `url`: its address ("http://127.0.0.1:8000") or any page URL of it,
    such as the one `show()` returns (the query is dropped)."""

    def __init__(self, url: str = "http://127.0.0.1:8000", timeout: float = 300.0) -> None:
        parts = urllib.parse.urlsplit(url)
        self.url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")).rstrip("/")
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    # -- transport -------------------------------------------------------------------------
    def _send(self, method: str, path: str, options: dict | None = None, body: bytes | None = None,
              content_type: str | None = None, raw: bool = False) -> Any:
        options = dict(options or {})
        progress = options.pop("progress", None)
        if progress is not None:  # the long jobs report progress as Server-Sent Events
            options["stream"] = True
        request = urllib.request.Request(self.url + path + _query(options), data=body, method=method)
        if content_type:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                if response.headers.get_content_type() == "text/event-stream":
                    return decode(_read_events(response, progress))
                data = response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            text = error.read().decode("utf-8", "replace")
            try:
                detail = json.loads(text)["detail"]
            except (ValueError, KeyError, TypeError):
                detail = text or error.reason
            raise ConvnetVisError(error.code, detail if isinstance(detail, str) else json.dumps(detail)) from None
        if raw:
            return data
        answer = json.loads(data)
        if status == 202:  # the map is being computed: say so rather than hand back progress as data
            raise ConvnetVisError(202, answer.get("detail") or "still computing; ask again shortly")
        return decode(answer)

    def _get(self, path: str, **options: Any) -> Any:
        return self._send("GET", path, options)

    def _post(self, path: str, image: ImageLike, **options: Any) -> Any:
        body, content_type = _image_body(image)
        return self._send("POST", path, options, body, content_type)

    @staticmethod
    def _m(model: str) -> str:
        return "/api/models/" + urllib.parse.quote(model, safe="")

    @staticmethod
    def _layer(layer: str) -> str:
        return urllib.parse.quote(layer, safe="/")  # nested names keep their slash

    # -- models ----------------------------------------------------------------------------
    def health(self) -> dict:
        """Liveness: is the process answering, and how many models it serves."""
        return self._get("/api/health")

    def ready(self) -> dict:
        """Readiness: raises 503 with the reason when no model is served."""
        return self._get("/api/ready")

    def models(self) -> dict:
        """Every served model's summary, and the files skipped with why."""
        return self._get("/api/models")

    def model(self, model: str) -> dict:
        """A model's detail: every layer's facts, receptive fields and Grad-CAM's default layer."""
        return self._get(self._m(model))

    def summary(self, model: str) -> dict:
        """Keras's `model.summary()` as data, with the separable-convolution arithmetic."""
        return self._get(self._m(model) + "/summary")

    def weights(self, model: str, layer: str, dtype: str | None = None) -> dict:
        """A layer's kernel, bias and other variables as arrays (`kernel` is `[kh, kw, in, out]`)."""
        return self._get(f"{self._m(model)}/layers/{self._layer(layer)}/weights", dtype=dtype)

    def browser(self, model: str) -> dict:
        """What the page's in-browser engine runs for this model (404 with why when it cannot)."""
        return self._get(self._m(model) + "/browser")

    def browser_weights(self, model: str) -> np.ndarray:
        """Every weight the page's engine reads, float32 at the offsets `browser()` lists."""
        return np.frombuffer(self._send("GET", self._m(model) + "/browser/weights", raw=True), "<f4").copy()

    def methods(self) -> dict:
        """The explanation methods' table: endpoint, options with bounds, paper, warnings."""
        return self._get("/api/methods")

    # -- analysis --------------------------------------------------------------------------
    def predict(self, model: str, image: ImageLike, preprocess: str | None = None,
                explain_preprocessing: bool | None = None) -> dict:
        """The model's `prediction` on `image`, the exact `input` it was fed and what preprocessing did."""
        return self._post(self._m(model) + "/predict", image, preprocess=preprocess,
                          explain_preprocessing=explain_preprocessing)

    def read(self, model: str, image: ImageLike) -> dict:
        """A number written in a row, digit by digit (digit models only)."""
        return self._post(self._m(model) + "/read", image)

    def activations(self, model: str, image: ImageLike, layers: Sequence[str] | None = None,
                    max_side: int | None = None, channels: str | Sequence[int] | None = None,
                    dtype: str | None = None, preprocess: str | None = None) -> dict:
        """Every layer's output (or those named) in inference mode; `answer["outputs"]` maps names to arrays."""
        answer = self._post(self._m(model) + "/activations", image, layers=layers, max_side=max_side,
                            channels=channels, dtype=dtype, preprocess=preprocess)
        answer["outputs"] = {layer["name"]: layer["activations"] for layer in answer["layers"]}
        return answer

    def live(self, model: str, images: "Iterator[ImageLike] | Sequence[ImageLike]", **message: Any) -> "Iterator[dict]":
        """The live channel as an iterator: one answer per image, in order (see `LiveChannel`)."""
        from convnet_vis.live import LiveChannel

        with LiveChannel(self.url, model) as channel:
            for image in images:
                yield channel.ask(image, **message)

    def live_channel(self, model: str) -> "LiveChannel":  # noqa: F821
        """An open live channel, for sending drawings yourself (`send`, `answers()`)."""
        from convnet_vis.live import LiveChannel

        return LiveChannel(self.url, model)

    # -- explanations ----------------------------------------------------------------------
    def gradcam(self, model: str, image: ImageLike, method: str | None = None, layer: str | None = None,
                class_index: int | None = None, **options: Any) -> dict:
        """The CAM family (gradcam, gradcam++, layercam, scorecam, guided_gradcam): `raw`, `heatmap`, `overlay`."""
        return self._post(self._m(model) + "/gradcam", image, method=method, layer=layer,
                          class_index=class_index, **options)

    def occlusion(self, model: str, image: ImageLike, class_index: int | None = None, patch: int | None = None,
                  stride: int | None = None, fill: float | None = None, **options: Any) -> dict:
        """How much the class's probability drops when each patch is hidden (`grid`, `heatmap`)."""
        return self._post(self._m(model) + "/occlusion", image, class_index=class_index, patch=patch,
                          stride=stride, fill=fill, **options)

    def saliency(self, model: str, image: ImageLike, method: str | None = None, class_index: int | None = None,
                 **options: Any) -> dict:
        """Maps at the input's pixels: gradient, smoothgrad, integrated_gradients, rise, guided_backprop."""
        return self._post(self._m(model) + "/saliency", image, method=method, class_index=class_index, **options)

    # -- filter patterns -------------------------------------------------------------------
    def filter_pattern(self, model: str, layer: str, index: int, **options: Any) -> dict:
        """The input that most excites one channel (`pattern` in the input range, `png`)."""
        return self._get(f"{self._m(model)}/layers/{self._layer(layer)}/filters/{int(index)}", **options)

    def filter_atlas(self, model: str, layer: str, **options: Any) -> dict:
        """Every channel's pattern of a layer at once (`patterns` is `[N, H, W, C]`)."""
        return self._get(f"{self._m(model)}/layers/{self._layer(layer)}/filters", **options)

    # -- dataset views ---------------------------------------------------------------------
    def top_examples(self, model: str, layer: str, unit: int, k: int | None = None) -> dict:
        """The reference images that excite one unit most."""
        return self._get(f"{self._m(model)}/layers/{self._layer(layer)}/units/{int(unit)}/top", k=k)

    def neighbors(self, model: str, image: ImageLike, layer: str | None = None, k: int | None = None) -> dict:
        """The reference images nearest to `image` in a layer's output."""
        return self._post(self._m(model) + "/neighbors", image, layer=layer, k=k)

    def embedding(self, model: str) -> dict:
        """The reference set's t-SNE map; raises status 202 while a new model's map is computed."""
        return self._get(self._m(model) + "/embedding")

    def place(self, model: str, image: ImageLike, nearest: int | None = None) -> dict:
        """Where `image` lands on the map (`point`), and optionally its nearest reference images."""
        return self._post(self._m(model) + "/embedding/place", image, nearest=nearest)

    # -- lessons ---------------------------------------------------------------------------
    def kernel_presets(self, model: str) -> dict:
        """Named kernels (edge, sobel, blur...) and the model's own first-layer kernels."""
        return self._get(self._m(model) + "/kernel/presets")

    def kernel(self, model: str, image: ImageLike, kernel: np.ndarray | Sequence | None = None,
               preset: str | None = None, **options: Any) -> dict:
        """One hand-made kernel slid over the input (or a layer's map): `feature_map` and its arithmetic."""
        if kernel is not None:
            kernel = ";".join(",".join(repr(float(v)) for v in row) for row in np.asarray(kernel, dtype=float))
        return self._post(self._m(model) + "/kernel", image, kernel=kernel, preset=preset, **options)

    def pool(self, model: str, image: ImageLike, layer: str | None = None, channel: int | None = None,
             window: int | None = None, stride: int | None = None) -> dict:
        """Max, average and L2 pooling of one map side by side, marking the model's own."""
        return self._post(self._m(model) + "/pool", image, layer=layer, channel=channel, window=window, stride=stride)

    def sweep(self, model: str, image: ImageLike, transform: str, **options: Any) -> dict:
        """The class probabilities as the input is rotated, shifted, zoomed or sheared step by step."""
        return self._post(self._m(model) + "/sweep", image, transform=transform, **options)
