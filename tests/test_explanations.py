"""The explanation endpoints as HTTP: wiring to the method table, options, streams and errors.

The methods' values are tested directly in tests/viz/; here each endpoint must answer exactly what
its method computes, with the fields, bounds and errors the API reference promises.
"""

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from app.viz.methods import METHODS
from tests.conftest import arr, assert_error

URL = "/api/models/{}/{}"
FAST = {"smoothgrad": {"samples": 8}, "integrated_gradients": {"steps": 16}, "rise": {"masks": 64}}


def post(client, model_id, endpoint, pixels, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = client.post(URL.format(model_id, endpoint) + ("?" + query if query else ""), json={"pixels": pixels.tolist()})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("name", list(METHODS))
def test_each_endpoint_answers_what_its_method_computes(client, mnist, name):
    method = METHODS[name]
    x = (mnist[0][3] / 255.0).astype("float32")
    graph = client.app.state.registry.get("mnist-convnet").graph
    options = FAST.get(name, {})
    selector = {"method": name.replace("+", "%2B")} if name not in ("occlusion",) else {}
    body = post(client, "mnist-convnet", method.endpoint, x, class_index=7, **selector, **options)
    expected = method.attribute(graph, x[..., None], 7, method.options(**options).resolved(graph))
    np.testing.assert_array_equal(arr(body[method.raw_field]), expected.raw)
    np.testing.assert_array_equal(arr(body["heatmap"]), expected.heatmap)
    probabilities = graph.probabilities(x[None, ..., None])[0]
    # the method's own compiled pass (XLA) sums in another order than Keras's: float32 precision
    np.testing.assert_allclose(body["prediction"]["probabilities"], probabilities, rtol=1e-5, atol=1e-9)
    assert body["class_index"] == 7 and body["label"] == "7"
    np.testing.assert_array_equal(arr(body["input"])[..., 0], x)
    for key, value in expected.extras.items():
        assert body[key] == pytest.approx(value), key


@pytest.mark.parametrize("name", ["gradcam", "gradcam++", "layercam", "gradient"])
def test_one_pass_methods_predict_and_explain_in_one_compiled_call(client, mnist, monkeypatch, name):
    """The top class, its probabilities and the gradients come from the method's own call: no
    separate forward pass for the prediction."""
    from app.encoding import ArrayOptions
    from app.services import explanations

    served = client.app.state.registry.get("mnist-convnet")
    x = (mnist[0][3] / 255.0).astype("float32")[..., None]
    expected = served.graph.probabilities(x[None])[0]

    def refuse(*args):
        raise AssertionError("a separate forward pass")

    monkeypatch.setattr(served.graph.runner, "probabilities", refuse)
    monkeypatch.setattr(served.graph.runner, "run", refuse)
    method = METHODS[name]
    body = explanations.explain(served, x, method, method.options().resolved(served.graph), None, ArrayOptions())
    assert body["class_index"] == int(np.argmax(expected))
    np.testing.assert_allclose(body["prediction"]["probabilities"], expected, rtol=1e-5)


def test_the_method_list_is_the_table(client):
    listed = {m["name"]: m for m in client.get("/api/methods").json()["methods"]}
    assert list(listed) == list(METHODS)
    for name, method in METHODS.items():
        entry = listed[name]
        assert (entry["endpoint"], entry["title"], entry["long_job"]) == (method.endpoint, method.title, method.long_job)
        assert set(entry["options"]) == set(method.options.model_fields)
    assert listed["gradcam++"]["params"] == {"method": "gradcam++"} and listed["occlusion"]["params"] == {}
    assert listed["smoothgrad"]["options"]["samples"]["maximum"] == 256
    for name in ("guided_backprop", "guided_gradcam"):  # the page shows it next to the map
        assert "Adebayo" in listed[name]["warning"]
    assert all(listed[name].get("warning") is None for name in ("gradcam", "scorecam", "rise"))


def test_the_schema_carries_each_option_with_its_bounds(client):
    parameters = {
        p["name"]: p["schema"] for p in client.get("/openapi.json").json()["paths"]["/api/models/{model_id}/saliency"]["post"]["parameters"]
    }
    assert parameters["samples"]["minimum"] == 1 and parameters["samples"]["maximum"] == 256
    assert parameters["steps"]["maximum"] == 512 and parameters["baseline"]["maximum"] == 1
    assert {"method", "class_index", "absolute", "noise_level", "seed", "stream"} <= set(parameters)
    for endpoint in ("gradcam", "occlusion", "saliency"):
        path = client.get("/openapi.json").json()["paths"][f"/api/models/{{model_id}}/{endpoint}"]["post"]
        names = {p["name"]: p["schema"] for p in path["parameters"]}
        assert {"fields", "faithfulness", "faithfulness_steps"} <= set(names), endpoint
        assert names["faithfulness_steps"]["minimum"] == 2 and names["faithfulness_steps"]["maximum"] == 256


@pytest.mark.parametrize("endpoint,query", [("gradcam", ""), ("occlusion", ""), ("saliency", "method=gradient")])
def test_faithfulness_on_every_endpoint(client, mnist, endpoint, query):
    """faithfulness=true adds deletion and insertion, computed on the map the response carries."""
    from app.viz.faithfulness import deletion_insertion

    x = (mnist[0][6] / 255.0).astype("float32")
    params = dict(p.split("=") for p in query.split("&") if p)
    body = post(client, "mnist-convnet", endpoint, x, faithfulness="true", faithfulness_steps=8, **params)
    graph = client.app.state.registry.get("mnist-convnet").graph
    expected = deletion_insertion(graph, x[..., None], body["class_index"], arr(body["heatmap"]), 8)
    assert body["faithfulness"]["steps"] == 8 and len(body["faithfulness"]["fractions"]) == 9
    for name in ("deletion", "insertion"):
        assert body["faithfulness"][name]["auc"] == pytest.approx(expected[name]["auc"], abs=1e-6)
        np.testing.assert_allclose(body["faithfulness"][name]["curve"], expected[name]["curve"], atol=1e-6)
    assert "faithfulness" not in post(client, "mnist-convnet", endpoint, x, **params)


@pytest.mark.parametrize(
    "endpoint,fields,sent",
    [
        ("gradcam", "heatmap", {"heatmap"}),
        ("gradcam", "raw,overlay", {"raw", "overlay"}),
        ("occlusion", "grid", {"grid"}),
        ("occlusion", "raw,input", {"grid", "input"}),
        ("saliency", "prediction", {"prediction"}),
    ],
)
def test_fields_leave_out_what_is_not_asked_for(client, mnist, endpoint, fields, sent):
    x = (mnist[0][1] / 255.0).astype("float32")
    full = post(client, "mnist-convnet", endpoint, x)
    body = post(client, "mnist-convnet", endpoint, x, fields=fields)
    parts = {"input", "prediction", "raw", "grid", "heatmap", "overlay"}
    assert set(body) & parts == sent
    assert body == {key: value for key, value in full.items() if key not in parts - sent}


def test_occlusion_defaults(client, mnist):
    body = post(client, "mnist-convnet", "occlusion", mnist[0][0] / 255.0)
    assert (body["patch"], body["stride"], body["fill"]) == (4, 2, 0.0)
    assert arr(body["grid"]).shape == (13, 13) and body["positions"] == 169


def test_overlay_is_a_png_over_the_input(client, mnist):
    body = post(client, "mnist-convnet", "gradcam", mnist[0][0] / 255.0)
    assert body["overlay"].startswith("data:image/png;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(body["overlay"].split(",", 1)[1])))
    assert image.format == "PNG" and image.size == (224, 224) and image.mode == "RGB"
    # the directly written PNG holds exactly the picture colormap.overlay draws
    from app.colormap import overlay

    heatmap = arr(body["heatmap"])
    expected = overlay(arr(body["input"]), heatmap / heatmap.max(), (0.0, 1.0))
    np.testing.assert_array_equal(np.asarray(image), np.asarray(expected))


def test_progress_stream_ends_with_the_same_result(client, mnist):
    x = (mnist[0][0] / 255.0).tolist()
    url = URL.format("mnist-convnet", "occlusion") + "?patch=2&stride=1"
    plain = client.post(url, json={"pixels": x}).json()
    with client.stream("POST", url + "&stream=true", json={"pixels": x}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events, data = [], []
        for line in response.iter_lines():
            if line.startswith("event: "):
                events.append(line[7:])
            elif line.startswith("data: "):
                data.append(line[6:])
    assert events[-1] == "result" and set(events[:-1]) == {"progress"} and len(events) >= 3
    progress = [json.loads(d) for d in data[:-1]]
    assert progress[-1] == {"done": 729, "total": 729}
    assert json.loads(data[-1])["grid"] == plain["grid"]


PIXELS = {"json": {"pixels": np.zeros((28, 28)).tolist()}}


@pytest.mark.parametrize(
    "endpoint,query,status",
    [
        ("gradcam", "class_index=10", 422),
        ("gradcam", "class_index=-1", 422),
        ("gradcam", "class_index=two", 422),
        ("gradcam", "layer=dense1", 422),
        ("gradcam", "layer=flatten", 422),
        ("gradcam", "layer=nope", 404),
        ("gradcam", "method=cam", 422),
        ("occlusion", "patch=0", 422),
        ("occlusion", "patch=29", 422),
        ("occlusion", "stride=0", 422),
        ("occlusion", "fill=nan", 422),
        ("occlusion", "class_index=99", 422),
        ("saliency", "method=deconvnet", 422),
        ("saliency", "method=smoothgrad&samples=0", 422),
        ("saliency", "method=smoothgrad&samples=100000", 422),
        ("saliency", "method=smoothgrad&noise_level=3", 422),
        ("saliency", "method=integrated_gradients&steps=0", 422),
        ("saliency", "method=integrated_gradients&steps=100000", 422),
        ("saliency", "method=integrated_gradients&baseline=2", 422),
        ("saliency", "method=integrated_gradients&tolerance=0", 422),
        ("gradcam", "method=gradcam%2B%2B&normalise_alpha=sometimes", 422),
        ("gradcam", "method=scorecam&max_channels=0", 422),
        ("gradcam", "method=scorecam&max_channels=129", 422),
        ("saliency", "method=rise&masks=0", 422),
        ("saliency", "method=rise&masks=100000", 422),
        ("saliency", "method=rise&cell=1", 422),
        ("saliency", "method=rise&probability=0", 422),
        ("saliency", "method=rise&probability=1.5", 422),
        ("gradcam", "fields=heatmap,pixels", 422),
        ("occlusion", "fields=raw,map", 422),
        ("gradcam", "faithfulness=maybe", 422),
        ("saliency", "faithfulness=true&faithfulness_steps=1", 422),
        ("occlusion", "faithfulness_steps=100000", 422),
    ],
)
def test_bad_options(client, endpoint, query, status):
    response = client.post(URL.format("mnist-convnet", endpoint) + "?" + query, **PIXELS)
    assert_error(response, status)
    assert client.post(URL.format("mnist-convnet", endpoint), **PIXELS).status_code == 200


@pytest.mark.parametrize("endpoint", ["gradcam", "occlusion", "saliency"])
def test_bad_bodies_on_explanations(client, endpoint):
    from tests.bad_inputs import bad_bodies

    for case, kwargs, status in bad_bodies():
        response = client.post(URL.format("mnist-convnet", endpoint), **kwargs)
        assert response.status_code == status, (case, response.text)


def test_the_array_and_preprocess_options_still_reach_every_explanation(client, mnist):
    """`encoding`, `dtype` and `preprocess` are read with the method's options in one model
    (app.api.query, deps.InputQuery): each must still take effect."""
    x = (mnist[0][5] / 255.0).astype("float32")
    plain = post(client, "mnist-convnet", "gradcam", x, fields="heatmap")
    listed = post(client, "mnist-convnet", "gradcam", x, fields="heatmap", encoding="list", dtype="float16")
    assert isinstance(listed["heatmap"]["data"], list) and listed["heatmap"]["dtype"] == "float16"
    np.testing.assert_array_equal(arr(listed["heatmap"]), arr(plain["heatmap"]).astype(np.float16))
    # pixels are used as sent by default; preprocess=digit centres an off-centre digit as /predict does
    shifted = np.roll(x, (4, 4), axis=(0, 1))
    as_sent = post(client, "mnist-convnet", "gradcam", shifted, fields="input")
    centred = post(client, "mnist-convnet", "gradcam", shifted, fields="input", preprocess="digit")
    predicted = client.post("/api/models/mnist-convnet/predict?preprocess=digit", json={"pixels": shifted.tolist()}).json()
    np.testing.assert_array_equal(arr(as_sent["input"])[..., 0], shifted)
    np.testing.assert_array_equal(arr(centred["input"]), arr(predicted["input"]))
    assert not np.array_equal(arr(centred["input"])[..., 0], shifted)


@pytest.mark.parametrize("name", [name for name, method in METHODS.items() if not method.long_job])
def test_a_quick_answer_is_the_json_its_response_model_writes(client, mnist, name):
    """One-pass answers, long jobs' answers (the same method with faithfulness=true) and streamed
    results are written by `streaming.model_json`; apart from the curves they must carry the same
    JSON, and that JSON is what FastAPI itself writes for the route's response model."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from fastapi.responses import JSONResponse
    from fastapi.routing import serialize_response

    from app.api import explain
    from app.api.streaming import json_response
    from app.encoding import ArrayOptions
    from app.services import explanations

    method = METHODS[name]
    x = (mnist[0][8] / 255.0).astype(np.float32)
    url = URL.format("mnist-convnet", method.endpoint) + f"?method={name.replace('+', '%2B')}&class_index=2"
    plain = client.post(url, json={"pixels": x.tolist()})
    assert plain.headers["content-type"] == "application/json"
    long_job = client.post(url + "&faithfulness=true&faithfulness_steps=2", json={"pixels": x.tolist()}).json()
    assert long_job.pop("faithfulness")["steps"] == 2
    assert long_job == plain.json()
    with client.stream("POST", url + "&stream=true", json={"pixels": x.tolist()}) as response:
        data = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert json.loads(data[-1]) == plain.json()
    assert plain.json()["class_index"] == 2 and plain.json()["method"] == name

    # the same answer in process, written by json_response and by FastAPI through the route
    served = client.app.state.registry.get("mnist-convnet")
    values = {"class_index": 2, "faithfulness": True, "faithfulness_steps": 2}
    answer = explanations.job(served, method, values, ArrayOptions())(x[..., None], None)
    route = next(r for r in explain.router.routes if r.name == f"{method.endpoint}_endpoint")
    serialize = serialize_response(field=route.response_field, response_content=answer, exclude_none=True)
    with ThreadPoolExecutor(1) as thread:  # a loop of its own: Playwright's sync API may hold this thread's
        by_fastapi = thread.submit(asyncio.run, serialize).result()
    written = json.loads(json_response(route.response_model, answer).body)
    assert written == json.loads(JSONResponse(by_fastapi).body)
    assert written["faithfulness"]["steps"] == 2 and written["class_index"] == 2
