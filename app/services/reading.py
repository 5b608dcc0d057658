"""`/read`: a picture of a number -> its digits, each through the digit model as an upload is.

`app.reading` finds the digits; this module gives it the model as its classifier (each 28x28
field mapped to the model's input exactly as `preprocess=digit` maps one uploaded digit) and
shapes the answer: the string, and per digit its box in the picture as sent, its probabilities
and its field (the page can open any digit in the network view from that field)."""

from __future__ import annotations

import numpy as np

from app.encoding import ArrayOptions, png_data_url, prediction_payload
from app.errors import InvalidOption
from app.preprocess import field_to_input
from app.reading import read_row
from app.registry import ServedModel
from app.services.preprocessing import grey_image


def require_digits_model(served: ServedModel) -> None:
    if served.card.kind != "digits":
        raise InvalidOption(
            f"/read reads handwritten digits; model {served.card.id!r} is an {served.card.kind} model. "
            "Use a digits model (GET /api/models lists each model's kind)."
        )


def classifier(served: ServedModel):
    """[N, 28, 28] fields in [0, 1] -> [N, classes]: the model's input made as for one upload."""
    shape, input_range = served.graph.input_shape, served.card.input_range

    def classify(fields: np.ndarray) -> np.ndarray:
        inputs = np.stack([field_to_input(field, shape, input_range) for field in fields])
        return served.graph.probabilities(inputs)

    return classify


def read(served: ServedModel, image: np.ndarray, arrays: ArrayOptions, original_size: tuple[int, int] | None) -> dict:
    """`[H, W, C]` in [0, 1] (as decoded, perhaps reduced) -> the `/read` response."""
    reading = read_row(image, classifier(served))
    classes = served.card.classes
    digits = []
    for segment in reading.segments:
        probabilities = segment.probabilities
        best = int(np.argmax(probabilities))
        digits.append(
            {
                "label": classes[best] if classes else str(best),
                "confidence": float(probabilities[best]),
                "box": reading.box(segment, original_size),
                "prediction": prediction_payload(probabilities, classes),
                "field": arrays.encode(segment.digit.field),
                "png": png_data_url(grey_image(segment.digit.field)),
                "pieces": segment.pieces,
                "split": segment.split,
            }
        )
    height, width = original_size or reading.source_size
    return {
        "model": served.card.id,
        "text": "".join(digit["label"] for digit in digits),
        "digits": digits,
        "ignored": reading.ignored,
        "size": {"width": width, "height": height},
        "path": reading.inks.path,
        "threshold": reading.threshold,
    }
