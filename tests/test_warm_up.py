"""The background warm-up (app/warm.py): after readiness it builds each model's page overview and
long methods' functions, so the first requests build nothing; answers are the same as without it;
requests for functions already built never wait behind one being built."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.graph import BatchedProbabilities, LayerOutputFunction
from app.graph.functions import CompiledFunctions, FunctionKey
from app.main import create_app
from app.viz.activations import ReducedForward
from tests.conftest import MODELS_DIR, arr

OVERVIEW = "max_side=16&dtype=uint8"


def _client(tmp_path, warm: bool) -> TestClient:
    return TestClient(create_app(Settings(models_dir=MODELS_DIR, cache_dir=tmp_path / "cache", background_warm_up=warm)))


def test_warm_up_builds_the_overview_and_long_methods_functions_and_the_first_requests_build_nothing(tmp_path, mnist):
    digits = mnist[0][:1].astype("float32") / 255.0
    with _client(tmp_path, warm=True) as client:
        warm_up = client.app.state.warm_up
        assert warm_up.join(timeout=600)
        report = client.get("/api/ready").json()["warm_up"]
        assert report["state"] == "done" and report["failed"] == []
        assert report["models_done"] == len(client.app.state.registry) == 2
        assert report["functions_built"] == 2 * 3
        assert "convnet_vis_warm_up_models_done 2.0" in client.get("/metrics").text
        answers = {}
        for served in client.app.state.registry:
            functions = served.graph.functions
            layer = served.graph.layers.default_gradcam_layer
            for key in (ReducedForward(16), BatchedProbabilities(), LayerOutputFunction(layer)):
                assert key in functions, (served.id, key)
            built = functions.built
            overview = client.post(f"/api/models/{served.id}/activations?{OVERVIEW}", json={"pixels": digits[0].tolist()})
            scorecam = client.post(f"/api/models/{served.id}/gradcam?method=scorecam", json={"pixels": digits[0].tolist()})
            assert overview.status_code == scorecam.status_code == 200
            assert functions.built == built, served.id  # nothing compiled on the first requests
            answers[served.id] = overview.json(), scorecam.json()
    with _client(tmp_path, warm=False) as client:
        assert client.get("/api/ready").json()["warm_up"]["state"] == "off"
        for served in client.app.state.registry:
            assert ReducedForward(16) not in served.graph.functions
            overview = client.post(f"/api/models/{served.id}/activations?{OVERVIEW}", json={"pixels": digits[0].tolist()}).json()
            scorecam = client.post(f"/api/models/{served.id}/gradcam?method=scorecam", json={"pixels": digits[0].tolist()}).json()
            warm_overview, warm_scorecam = answers[served.id]
            assert overview == warm_overview
            np.testing.assert_allclose(arr(scorecam["heatmap"]), arr(warm_scorecam["heatmap"]), rtol=1e-5, atol=1e-6)
            assert scorecam["class_index"] == warm_scorecam["class_index"]


def _built(client, model: str) -> float:
    """The model's compiled functions built since start-up, as /metrics reports them."""
    line = next(l for l in client.get("/metrics").text.splitlines() if l.startswith(f'convnet_vis_compiled_functions_built{{model="{model}"}}'))
    return float(line.split()[-1])


def _handlers_built_by(client, monkeypatch, request) -> int:
    """How many endpoint dependency trees FastAPI builds while answering `request()` (it builds an
    included router's handlers on the router's first request: 20-25 ms, the overview's cold start)."""
    import fastapi.routing

    calls = []
    original = fastapi.routing.get_dependant
    monkeypatch.setattr(fastapi.routing, "get_dependant", lambda *a, **k: calls.append(1) or original(*a, **k))
    response = request()
    monkeypatch.setattr(fastapi.routing, "get_dependant", original)
    assert response.status_code == 200, response.text
    return len(calls)


def test_after_the_warm_up_the_first_overview_request_builds_nothing(tmp_path, mnist, monkeypatch):
    """Neither a compiled function (the registry's count, read back from /metrics) nor FastAPI's
    handlers of the analysis router (what VGG16's and the `operations` model's first overviews still
    paid); without the warm-up the same first request builds both. The overview is each app's first
    request: FastAPI builds the handlers of every router it tries on the way to the matching one."""
    body = {"pixels": (mnist[0][0].astype("float32") / 255.0).tolist()}
    overview = f"/api/models/mnist-convnet/activations?{OVERVIEW}"
    with _client(tmp_path, warm=True) as client:
        warm_up = client.app.state.warm_up
        assert warm_up.join(timeout=600)
        before = client.app.state.registry.get("mnist-convnet").graph.functions.built
        handlers = _handlers_built_by(client, monkeypatch, lambda: client.post(overview, json=body))
        assert handlers == 0 and _built(client, "mnist-convnet") == before
        prepared = client.get("/api/ready").json()["warm_up"]["routes_prepared"]
        assert prepared == warm_up.routes_prepared and f"convnet_vis_warm_up_routes_prepared {float(prepared)}" in client.get("/metrics").text
    with _client(tmp_path, warm=False) as client:
        before = client.app.state.registry.get("mnist-convnet").graph.functions.built
        handlers = _handlers_built_by(client, monkeypatch, lambda: client.post(overview, json=body))
        assert _built(client, "mnist-convnet") == before + 1  # the overview's reduced forward pass
        assert (handlers > 0) == (prepared > 0)  # a FastAPI that builds handlers lazily: the warm-up prepared them
        assert client.get("/api/ready").json()["warm_up"]["routes_prepared"] == 0


from dataclasses import dataclass  # noqa: E402


@dataclass(frozen=True)
class _Key(FunctionKey):
    name: str


def test_a_built_function_is_served_while_another_one_is_being_built():
    store = CompiledFunctions()
    store.get(_Key("built"), lambda: "built function")
    release, building = threading.Event(), threading.Event()

    def slow_build():
        building.set()
        release.wait()
        return "slow function"

    builder = threading.Thread(target=lambda: store.get(_Key("slow"), slow_build))
    builder.start()
    assert building.wait(60)
    got = []
    reader = threading.Thread(target=lambda: got.append(store.get(_Key("built"), lambda: pytest.fail("built twice"))))
    reader.start()
    reader.join(60)
    finished_while_building = not reader.is_alive() and not release.is_set()
    release.set()
    builder.join(60)
    assert finished_while_building and got == ["built function"]
    assert store.get(_Key("slow"), lambda: pytest.fail("built twice")) == "slow function" and store.built == 2
