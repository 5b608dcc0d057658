"""Property-based fuzzing of the whole HTTP API from its own OpenAPI schema (schemathesis).

Every operation gets generated inputs, valid and invalid; no answer may be a 500, and every
answer must match the schema (status codes, content types, bodies). Schemathesis's "a
schema-valid request must be accepted" check is left out on purpose: some rules cannot be put in
OpenAPI (an image must decode and fit the model, a layer must have weights), and breaking them
is a documented 4xx. The cases go to a real
server over small test models. So that they reach the models rather than stop at a 404, this
test's copy of the schema lists the served model ids and layer names as the path parameters'
allowed values; everything else is fuzzed as published. Examples per operation are bounded.
"""

import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.graph import ModelGraph
from app.main import create_app
from bench.server import running_server
from tests import tiny_models

MODELS = Path(tempfile.mkdtemp(prefix="convnet-vis-fuzz-"))
BUILT = tiny_models.save_all(MODELS)
LAYERS = sorted({name for model in BUILT.values() for name in ModelGraph(model).layers.names} | {"nope", "../x"})


def narrowed_schema() -> dict:
    document = create_app().openapi()
    for path in document["paths"].values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "model_id":
                    parameter["schema"] = {"type": "string", "enum": sorted(BUILT) + ["nope"]}
                elif parameter["name"] == "layer_name":
                    parameter["schema"] = {"type": "string", "enum": LAYERS}
    return document


schema = schemathesis.openapi.from_dict(narrowed_schema())


@pytest.fixture(scope="module")
def fuzz_url():
    with running_server(MODELS, env={"CONVNET_VIS_MAX_LONG_JOBS": "4"}) as url:
        yield url


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case, fuzz_url):
    case.call_and_validate(base_url=fuzz_url, timeout=120, excluded_checks=[positive_data_acceptance])
