"""Model list, model detail and layer weights."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request, Response

from app.api.deps import ERROR_RESPONSES, ArraysDep, ModelDep, RegistryDep
from app.errors import NotFound, NotReady
from app.graph import LayerNeed
from app.registry import ServedModel
from app.schemas import (
    ErrorResponse,
    Health,
    LayerConfig,
    LayerInfo,
    LayerWeights,
    ModelDetail,
    ModelList,
    ModelSummary,
    PageGraph,
    SkippedModel,
)
from app.schemas import BrowserSupport
from app.schemas import PageLayer as PageLayerOut

router = APIRouter(prefix="/api", tags=["models"])

_CONFIG_KEYS = ("filters", "units", "kernel_size", "strides", "padding", "activation", "pool_size", "dilation_rate")


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
        head=served.graph.head.value,
        input_size_from=served.input_size_from,
        card=card.extra,
    )


def _layer_config(layer) -> LayerConfig:
    try:
        config = layer.get_config()
    except NotImplementedError:  # a custom layer whose __init__ takes arguments get_config does not name
        config = {}
    values = {}
    for key in _CONFIG_KEYS:
        value = config.get(key)
        if isinstance(value, (tuple, list)):
            # ZeroPadding2D's padding is ((top, bottom), (left, right)): not a size, left out
            value = [int(v) for v in value] if all(isinstance(v, int) for v in value) else None
        elif key == "padding" and not isinstance(value, str):
            value = None
        elif key == "activation" and value is not None and not isinstance(value, str):
            value = getattr(value, "__name__", str(value))
        values[key] = value
    return LayerConfig(**values)


def describe_layers(served: ServedModel) -> list[LayerInfo]:
    facts = served.graph.layers
    layers = []
    for name, node in facts.nodes.items():
        field = facts.receptive_field(name)
        layers.append(
            LayerInfo(
                name=name,
                class_name=node.class_name,
                kind=facts.kind(name),
                spatial=facts.is_spatial(name),
                active_at_inference=facts.active_at_inference(name),
                receptive_field=asdict(field) if field is not None else None,
                output_shape=list(node.output_shape),
                parameters=int(node.layer.count_params()),
                inbound=node.inbound,
                config=_layer_config(node.layer),
                parent=node.parent,
                is_container=node.is_container,
            )
        )
    return layers


@router.get("/health", response_model=Health, response_model_exclude_none=True)
async def health(registry: RegistryDep) -> Health:
    """Liveness: the process answers (even with no model)."""
    return Health(status="ok", models=len(registry))


@router.get("/ready", response_model=Health, response_model_exclude_none=True, responses={503: {"model": ErrorResponse, "description": "no model is served"}})
async def ready(registry: RegistryDep, request: Request) -> Health:
    """Readiness: 200 when at least one model is served, else 503 saying why."""
    if not len(registry):
        raise NotReady(f"No model is served: {registry.why_empty()}.")
    warm_up = getattr(request.app.state, "warm_up", None)
    return Health(status="ready", models=len(registry), warm_up=warm_up.report() if warm_up is not None else None)


@router.get("/models", response_model=ModelList)
async def list_models(registry: RegistryDep) -> ModelList:
    return ModelList(
        models=[summarize(served) for served in registry],
        skipped=[SkippedModel(file=name, reason=reason) for name, reason in registry.skipped.items()],
    )


@router.get("/models/{model_id}", response_model=ModelDetail, responses=ERROR_RESPONSES)
async def model_detail(served: ModelDep) -> ModelDetail:
    return ModelDetail(
        **summarize(served).model_dump(),
        layers=describe_layers(served),
        default_gradcam_layer=served.graph.layers.default_gradcam_layer,
        browser=_browser_support(served),
    )


def _browser_support(served: ServedModel) -> BrowserSupport:
    page = served.graph.page
    return BrowserSupport(supported=page.supported, reason=page.reason, multiply_adds=page.multiply_adds, weight_bytes=page.weight_bytes)


def _page_plan(served: ServedModel):
    page = served.graph.page
    if not page.supported:
        raise NotFound(f"The page cannot run model {served.id!r}: {page.reason}. Its live view is computed by the server (the live channel).")
    return page


@router.get("/models/{model_id}/browser", response_model=PageGraph, responses=ERROR_RESPONSES)
def page_graph(served: ModelDep) -> PageGraph:
    """The model as the page's engine runs it (static/js/engine/): each layer's kind, settings and
    where its weights lie in `/browser/weights`. 404 for a model the page cannot run, with why."""
    page = _page_plan(served)
    _, manifest = page.weights_blob
    return PageGraph(
        **_browser_support(served).model_dump(),
        input_shape=list(served.graph.input_shape),
        input_range=list(served.card.input_range),
        head=served.graph.head.value,
        weights_url=f"/api/models/{served.id}/browser/weights",
        weights_etag=page.etag,
        layers=[
            PageLayerOut(
                name=layer.name, kind=layer.kind, class_name=layer.class_name, inbound=layer.inbound,
                output_shape=layer.output_shape, config=layer.config, weights=manifest.get(layer.name, {}),
            )
            for layer in page.layers
        ],
    )


@router.get(
    "/models/{model_id}/browser/weights",
    response_class=Response,
    responses={**ERROR_RESPONSES, 200: {"content": {"application/octet-stream": {}}, "description": "every weight, float32"}, 304: {"description": "unchanged since the ETag sent"}},
)
def page_weights(served: ModelDep, request: Request) -> Response:
    """Every weight the page needs, little-endian float32 at the offsets `/browser` gives: one
    download per model, revalidated by ETag (304 when unchanged)."""
    page = _page_plan(served)
    blob, _ = page.weights_blob
    headers = {"ETag": page.etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == page.etag:
        return Response(status_code=304, headers=headers)
    return Response(blob, media_type="application/octet-stream", headers=headers)


@router.get("/models/{model_id}/layers/{layer_name:path}/weights", response_model=LayerWeights, responses=ERROR_RESPONSES)
async def layer_weights(layer_name: str, served: ModelDep, arrays: ArraysDep) -> LayerWeights:
    layer = served.graph.layers.get(layer_name, LayerNeed.weights).layer
    kernel = getattr(layer, "kernel", None)
    bias = getattr(layer, "bias", None)
    return LayerWeights(
        layer=layer_name,
        kernel=arrays.encode(kernel.numpy()) if kernel is not None else None,
        bias=arrays.encode(bias.numpy()) if bias is not None else None,
        variables={variable.path.split("/")[-1]: arrays.encode(variable.numpy()) for variable in layer.weights},
    )
