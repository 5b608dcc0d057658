"""Model list, model detail and layer weights."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.api.deps import ERROR_RESPONSES, ArrayOptions, get_array_options, get_model, get_registry
from app.encoding import encode_array
from app.errors import InvalidOption, NotFound, NotReady
from app.registry import ModelRegistry, ServedModel
from app.schemas import ErrorResponse, Health, LayerConfig, LayerInfo, LayerWeights, ModelDetail, ModelList, ModelSummary, SkippedModel

router = APIRouter(prefix="/api", tags=["models"])

_CONFIG_KEYS = ("filters", "units", "kernel_size", "strides", "padding", "activation", "pool_size")


def summarize(served: ServedModel) -> ModelSummary:
    card = served.card
    return ModelSummary(
        id=card.id,
        name=card.name,
        description=card.description,
        input_shape=list(served.graph.input_shape),
        input_range=list(card.input_range),
        classes=card.classes,
        parameters=int(served.graph.model.count_params()),
        kind=card.kind,
        card=card.extra,
    )


def _layer_config(layer) -> LayerConfig:
    try:
        config = layer.get_config()
    except Exception:  # non-layer operations (keras.ops in a functional graph) have none
        config = {}
    values = {}
    for key in _CONFIG_KEYS:
        value = config.get(key)
        if isinstance(value, (tuple, list)):
            value = [int(v) for v in value]
        elif key == "activation" and value is not None and not isinstance(value, str):
            value = getattr(value, "__name__", str(value))
        values[key] = value
    return LayerConfig(**values)


def find_node(served: ServedModel, layer_name: str):
    node = served.graph.nodes.get(layer_name)
    if node is None:
        raise NotFound(
            f"Unknown layer {layer_name!r} in model {served.id!r}. Layers: {', '.join(served.graph.layer_names)}."
        )
    return node


@router.get("/health", response_model=Health)
async def health(registry: ModelRegistry = Depends(get_registry)) -> Health:
    """Liveness: the process answers (even with no model)."""
    return Health(status="ok", models=len(registry))


@router.get("/ready", response_model=Health, responses={503: {"model": ErrorResponse, "description": "no model is served"}})
async def ready(registry: ModelRegistry = Depends(get_registry)) -> Health:
    """Readiness: 200 when at least one model is served, else 503 saying why."""
    if not len(registry):
        raise NotReady(f"No model is served: {registry.why_empty()}.")
    return Health(status="ready", models=len(registry))


@router.get("/models", response_model=ModelList)
async def list_models(registry: ModelRegistry = Depends(get_registry)) -> ModelList:
    return ModelList(
        models=[summarize(served) for served in registry],
        skipped=[SkippedModel(file=name, reason=reason) for name, reason in registry.skipped.items()],
    )


@router.get("/models/{model_id}", response_model=ModelDetail, responses=ERROR_RESPONSES)
async def model_detail(served: ServedModel = Depends(get_model)) -> ModelDetail:
    graph = served.graph
    layers = [
        LayerInfo(
            name=node.name,
            class_name=node.class_name,
            output_shape=list(node.output_shape),
            parameters=int(node.layer.count_params()) if hasattr(node.layer, "count_params") else 0,
            inbound=node.inbound,
            config=_layer_config(node.layer),
            parent=node.parent,
            is_container=node.is_container,
        )
        for node in graph.nodes.values()
    ]
    return ModelDetail(**summarize(served).model_dump(), layers=layers, default_gradcam_layer=graph.default_gradcam_layer)


@router.get("/models/{model_id}/layers/{layer_name:path}/weights", response_model=LayerWeights, responses=ERROR_RESPONSES)
def layer_weights(
    layer_name: str, served: ServedModel = Depends(get_model), options: ArrayOptions = Depends(get_array_options)
) -> LayerWeights:
    node = find_node(served, layer_name)
    if node.is_container or not node.layer.weights:
        raise InvalidOption(f"Layer {layer_name!r} ({node.class_name}) has no weights.")

    def encode(variable):
        return encode_array(variable.numpy(), options.encoding, options.dtype)

    layer = node.layer
    kernel = getattr(layer, "kernel", None)
    bias = getattr(layer, "bias", None)
    return LayerWeights(
        layer=node.name,
        kernel=encode(kernel) if kernel is not None else None,
        bias=encode(bias) if bias is not None else None,
        variables={variable.path.split("/")[-1]: encode(variable) for variable in layer.weights},
    )
