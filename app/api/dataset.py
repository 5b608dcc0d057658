"""Dataset views: top-activating reference images, nearest neighbours, and the t-SNE map."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from PIL import Image
from starlette.concurrency import run_in_threadpool

from app.api.deps import ERROR_RESPONSES, IMAGE_BODY, ArrayOptions, get_array_options, get_model, get_model_input
from app.api.models import find_node
from app.cache import ArrayCache, cache_key
from app.encoding import encode_array, png_data_url, prediction_payload
from app.errors import InvalidOption, NotFound
from app.executors import Executors
from app.reference import ReferenceStore
from app.registry import ServedModel
from app.schemas import EmbeddingResponse, NeighboursResponse, PlacementResponse, TopExamplesResponse
from app.viz import dataset

router = APIRouter(prefix="/api/models/{model_id}", tags=["dataset"])

MAX_K = 64
MAX_NEIGHBOUR_FEATURES = 8192  # values per image; larger layers would hold N x D floats in memory


async def get_references(request: Request) -> ReferenceStore:
    return request.app.state.references


async def get_dataset_cache(request: Request) -> ArrayCache:
    return request.app.state.dataset_cache


async def get_executors(request: Request) -> Executors:
    return request.app.state.executors


def last_hidden_layer(served: ServedModel) -> str:
    """The layer feeding the output layer: where the classes are laid out for the classifier."""
    graph = served.graph
    leaves = [n for n in graph.nodes.values() if not n.is_container]
    feeding = leaves[-1].inbound[0] if leaves[-1].inbound else None
    if feeding in graph.nodes and len(graph.nodes[feeding].output_shape) == 1:
        return feeding
    vectors = [n.name for n in leaves[:-1] if len(n.output_shape) == 1]
    if not vectors:
        raise InvalidOption("This model has no hidden layer with a vector output to map.")
    return vectors[-1]


def neighbour_layer(served: ServedModel, layer: str | None) -> str:
    name = layer or last_hidden_layer(served)
    node = find_node(served, name)
    size = int(np.prod(node.output_shape))
    if size > MAX_NEIGHBOUR_FEATURES:
        raise InvalidOption(
            f"Layer {name!r} has {size:,} values per image; neighbour search takes layers of at most "
            f"{MAX_NEIGHBOUR_FEATURES:,}. Choose a deeper layer."
        )
    return name


def analyse(served: ServedModel, model_input: np.ndarray, layer: str, arrays: ArrayOptions) -> tuple[dict, np.ndarray]:
    """The fields every image query answers (input, prediction), and the input's features in `layer`."""
    result = served.graph.run(model_input[None])
    fields = {
        "input": encode_array(model_input, arrays.encoding, arrays.dtype),
        "prediction": prediction_payload(result["probabilities"][0], served.card.classes),
        "layer": layer,
    }
    return fields, served.graph.feature(result, layer).reshape(-1)


def thumbnail(served: ServedModel, references: ReferenceStore, index: int) -> dict:
    reference = references.get(served)
    if index not in reference.thumbnails:
        image = reference.images[index]
        reference.thumbnails[index] = png_data_url(Image.fromarray(image if image.ndim == 2 else image[..., :3]))
    return {
        "index": int(index),
        "source_index": int(reference.indices[index]),
        "label": served.card.classes[int(reference.labels[index])] if 0 <= reference.labels[index] < len(served.card.classes) else str(reference.labels[index]),
        "png": reference.thumbnails[index],
    }


def unit_count(served: ServedModel, layer: str) -> int:
    """Channels of a feature map, or values of a vector."""
    shape = find_node(served, layer).output_shape
    return int(shape[-1]) if len(shape) == 3 else int(np.prod(shape))


def _top_key(served: ServedModel, layer: str) -> str:
    return cache_key(served.file_hash, served.card.extra.get("reference"), layer, "top-units")


def top_units(served: ServedModel, references: ReferenceStore, cache: ArrayCache, layer: str) -> dict:
    """Every unit's top-64 reference images for a layer, cached on disk by the CLI or first use."""
    key = _top_key(served, layer)
    units = unit_count(served, layer)
    cached = cache.get(key, {"indices": (units, None), "values": (units, None)})
    if cached is None:
        values = references.features(served, layer, "units")
        order = np.argsort(-values, axis=0, kind="stable")[:MAX_K].T  # [units, 64]
        cached = {"indices": order.astype(np.int32), "values": np.take_along_axis(values.T, order, axis=1)}
        cache.put(key, cached)
    return cached


def _map_key(served: ServedModel) -> tuple[str, str]:
    layer = last_hidden_layer(served)
    return layer, cache_key(served.file_hash, served.card.extra.get("reference"), layer, "tsne")


def embedding(served: ServedModel, references: ReferenceStore, cache: ArrayCache, run=lambda fn, *args: fn(*args)) -> dict:
    """The map, computed once per model (about 15 s for 3,000 images), then cached.
    The server passes `run=Executors.in_child`: t-SNE holds the GIL for long stretches."""
    layer, key = _map_key(served)
    cached = cache.get(key, {"points": (len(references.get(served).labels), 2)})
    if cached is None:
        cached = {"points": run(dataset.embed, references.features(served, layer, "flat"))}
        cache.put(key, cached)
    return {"layer": layer, "points": cached["points"]}


# Computed once for everyone: concurrent first requests await one computation on the executors'
# own threads (single flight), holding no thread of the drawing path; later ones hit memory.
async def shared_top_units(executors: Executors, served, references, cache, layer: str) -> dict:
    return cache.recall(_top_key(served, layer)) or await executors.once(
        _top_key(served, layer), top_units, served, references, cache, layer
    )


async def shared_embedding(executors: Executors, served, references, cache) -> dict:
    layer, key = _map_key(served)
    cached = cache.recall(key)
    if cached is not None:
        return {"layer": layer, "points": cached["points"]}
    return await executors.once(key, embedding, served, references, cache, executors.in_child)


@router.get("/layers/{layer_name:path}/units/{unit}/top", response_model=TopExamplesResponse, responses=ERROR_RESPONSES)
async def top_activating(
    layer_name: str,
    unit: int,
    served: ServedModel = Depends(get_model),
    k: int = Query(9, ge=1, le=MAX_K, description=f"how many examples (1 to {MAX_K})"),
    references: ReferenceStore = Depends(get_references),
    cache: ArrayCache = Depends(get_dataset_cache),
    executors: Executors = Depends(get_executors),
) -> dict:
    units = unit_count(served, layer_name)
    if not 0 <= unit < units:
        raise NotFound(f"Unit {unit} does not exist: layer {layer_name!r} has units 0 to {units - 1}.")
    top = await shared_top_units(executors, served, references, cache, layer_name)

    def job():
        return {
            "layer": layer_name,
            "unit": unit,
            "examples": [
                {**thumbnail(served, references, i), "activation": float(v)}
                for i, v in zip(top["indices"][unit][:k], top["values"][unit][:k])
            ],
        }

    return await run_in_threadpool(job)


@router.post("/neighbors", response_model=NeighboursResponse, responses=ERROR_RESPONSES, openapi_extra=IMAGE_BODY)
async def neighbours(
    served: ServedModel = Depends(get_model),
    model_input: np.ndarray = Depends(get_model_input),
    arrays: ArrayOptions = Depends(get_array_options),
    layer: str | None = Query(None, description="feature space; default: the last hidden layer"),
    k: int = Query(8, ge=1, le=MAX_K, description=f"how many neighbours (1 to {MAX_K})"),
    references: ReferenceStore = Depends(get_references),
) -> dict:
    name = neighbour_layer(served, layer)

    def job():
        fields, query = analyse(served, model_input, name, arrays)
        indices, distances = dataset.nearest(references.features(served, name, "flat"), query, k)
        return {
            **fields,
            "neighbors": [{**thumbnail(served, references, i), "distance": float(d)} for i, d in zip(indices, distances)],
        }

    return await run_in_threadpool(job)


@router.get("/embedding", response_model=EmbeddingResponse, responses=ERROR_RESPONSES)
async def reference_map(
    served: ServedModel = Depends(get_model),
    arrays: ArrayOptions = Depends(get_array_options),
    references: ReferenceStore = Depends(get_references),
    cache: ArrayCache = Depends(get_dataset_cache),
    executors: Executors = Depends(get_executors),
):
    """Computed once (single flight: concurrent requests wait for it, never compute it twice)."""
    mapped = await shared_embedding(executors, served, references, cache)

    def job():
        return {
            "layer": mapped["layer"],
            "method": "tsne",
            "points": encode_array(mapped["points"], arrays.encoding, arrays.dtype),
            "labels": [int(label) for label in references.get(served).labels],
        }

    return await run_in_threadpool(job)


@router.post("/embedding/place", response_model=PlacementResponse, responses=ERROR_RESPONSES, openapi_extra=IMAGE_BODY)
async def place_on_map(
    served: ServedModel = Depends(get_model),
    model_input: np.ndarray = Depends(get_model_input),
    arrays: ArrayOptions = Depends(get_array_options),
    references: ReferenceStore = Depends(get_references),
    cache: ArrayCache = Depends(get_dataset_cache),
    executors: Executors = Depends(get_executors),
) -> dict:
    mapped = await shared_embedding(executors, served, references, cache)

    def job():
        fields, query = analyse(served, model_input, mapped["layer"], arrays)
        point, indices = dataset.place(references.features(served, mapped["layer"], "flat"), mapped["points"], query)
        return {
            **fields,
            "point": [float(point[0]), float(point[1])],
            "neighbors": [int(i) for i in indices],
        }

    return await run_in_threadpool(job)

