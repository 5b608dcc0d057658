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
