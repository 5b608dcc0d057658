"""Explanation endpoints, generated from the method table (`app.viz.methods`).

Each endpoint (`/gradcam`, `/occlusion`, `/saliency`) serves the methods whose `endpoint` names it;
its query parameters are `method` (when it serves several), `class_index`, every option of its
methods with their bounds, the options every explanation takes (`fields`, `faithfulness`,
`faithfulness_steps`: `explanations.ResponseOptions`; `encoding`, `dtype`, `preprocess`:
`deps.InputQuery`), and `stream` when any method is a long job. They are read as one model
(`app.api.query`): Grad-CAM on a drawing is the drawing path, and FastAPI's field-by-field
reading was a tenth of its answer. No FastAPI dependencies are solved, and an answer that is not
streamed is written by `json_response`. A one-pass answer is the drawing path: the work through
`Executors.quick` (on the event loop when quick and alone). A long job's (Score-CAM, RISE,
occlusion, ..., or any method with `faithfulness=true`) parses a drawing on its own job thread:
one thread hop, not two. `GET /api/methods` lists the table for
clients (the page builds its method list from it).

No `from __future__ import annotations` here: the endpoints' signatures are built at run time.
"""

import functools
from enum import Enum

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, create_model
from pydantic.fields import FieldInfo

from app.api.deps import ERROR_RESPONSES, IMAGE_BODY, STREAM_RESPONSES, InputQuery, get_model_input, run_with_input
from app.api.query import openapi_parameters, query_reader
from app.api.streaming import json_response, respond
from app.registry import ServedModel
from app.schemas import GradcamResponse, MethodInfo, MethodList, OcclusionResponse, SaliencyResponse
from app.services import explanations
from app.viz.base import Method
from app.viz.methods import METHODS, endpoints

router = APIRouter(tags=["explanations"])

RESPONSES: dict[str, type[BaseModel]] = {
    "gradcam": GradcamResponse,
    "occlusion": OcclusionResponse,
    "saliency": SaliencyResponse,
}


def query_model(endpoint: str, methods: list[Method]) -> type[BaseModel]:
    """One pydantic model of an endpoint's query parameters, from its methods' options."""
    fields: dict = {}
    if len(methods) > 1:
        names = Enum(f"{endpoint.capitalize()}Method", {m.name: m.name for m in methods}, type=str)
        titles = ", ".join(f"{m.name} ({m.title})" for m in methods)
        fields["method"] = (names, Field(names(methods[0].name), description=titles))
    fields["class_index"] = (int | None, Field(None, ge=0, description="the class to explain; default: the top-1 prediction"))
    owners: dict[str, list[str]] = {}
    for method in methods:
        for name, info in method.options.model_fields.items():
            owners.setdefault(name, []).append(method.name)
            if name in fields:
                if (fields[name][1].annotation, fields[name][1].default) != (info.annotation, info.default):
                    raise TypeError(f"option {name!r} differs between the methods of /{endpoint}")
                continue
            fields[name] = (info.annotation, info)
    if len(methods) > 1:  # say which methods read each option
        for name, users in owners.items():
            annotation, info = fields[name]
            described = FieldInfo.merge_field_infos(info, description=f"{', '.join(users)}: {info.description}")
            fields[name] = (annotation, described)
    for options in (explanations.ResponseOptions, InputQuery):  # fields=, faithfulness, encoding, ...: every endpoint
        for name, info in options.model_fields.items():
            fields[name] = (info.annotation, info)
    if any(m.long_job for m in methods):
        fields["stream"] = (bool, Field(False, description="send progress as Server-Sent Events, then the result (see docs/api.md)"))
    return create_model(f"{endpoint.capitalize()}Query", **fields)


def add_endpoint(endpoint: str, methods: list[Method]) -> None:
    QueryModel = query_model(endpoint, methods)
    by_name = {m.name: m for m in methods}
    streams = any(m.long_job for m in methods)

    read_query = query_reader(QueryModel)

    async def explain(request: Request, model_id: str):
        # No dependencies in the signature: each one FastAPI solves costs the drawing path's
        # answer about 20 us, and these are the same app-state lookups `deps` makes.
        state = request.app.state
        served: ServedModel = state.registry.get(model_id)
        query = await read_query(request)
        settings, executors, long_jobs = state.settings, state.executors, state.long_jobs
        values = query.model_dump()
        chosen = values.pop("method", None)
        method = by_name[chosen.value if chosen is not None else methods[0].name]
        inputs = InputQuery(**{name: values.pop(name) for name in InputQuery.model_fields})
        job = explanations.job(served, method, values, inputs.arrays(), settings.max_explanation_cost)
        stream = values.get("stream", False)
        # a method of one backward pass is, like the drawing path, never refused; its faithfulness curves are many passes
        long_job = method.long_job or values.get("faithfulness", False)
        if stream:
            model_input = await get_model_input(request, served, settings, executors, inputs.preprocess)
            return await respond(stream, functools.partial(job, model_input), RESPONSES[endpoint], long_jobs if long_job else None)
        if long_job:  # on a job thread, holding a slot; it stops at its next step at shutdown
            work = lambda model_input: job(model_input, long_jobs.check)  # noqa: E731
            answer = await run_with_input(request, served, settings, executors, inputs.preprocess, work, limiter=long_jobs)
        else:
            # what the answer's time depends on: the model, the method and its options (not the class)
            key = (served.id, id(served.graph), method.name, repr(sorted((k, v) for k, v in values.items() if k != "class_index")))
            work = lambda model_input: job(model_input, None)  # noqa: E731
            answer = await run_with_input(request, served, settings, executors, inputs.preprocess, work, key)
        return json_response(RESPONSES[endpoint], answer)

    router.add_api_route(
        f"/api/models/{{model_id}}/{endpoint}",
        explain,
        methods=["POST"],
        name=f"{endpoint}_endpoint",
        response_model=RESPONSES[endpoint],
        response_model_exclude_none=True,
        responses=STREAM_RESPONSES if streams else ERROR_RESPONSES,
        openapi_extra={**IMAGE_BODY, "parameters": openapi_parameters(QueryModel)},
        summary=f"{endpoint.capitalize()}: " + ", ".join(m.title for m in methods),
    )


for _endpoint, _methods in endpoints().items():
    add_endpoint(_endpoint, _methods)


@router.get("/api/methods", response_model=MethodList)
async def list_methods() -> MethodList:
    groups = endpoints()
    return MethodList(
        methods=[
            MethodInfo(
                name=m.name,
                title=m.title,
                endpoint=m.endpoint,
                params={"method": m.name} if len(groups[m.endpoint]) > 1 else {},
                long_job=m.long_job,
                reference=m.reference,
                warning=m.warning,
                options=m.options.model_json_schema().get("properties", {}),
            )
            for m in METHODS.values()
        ]
    )
