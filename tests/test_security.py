"""Classroom-network hardening: allowed hosts, WebSocket origins, security headers, offline /docs."""

import re

import pytest
from starlette.testclient import WebSocketDenialResponse

from app.security import host_allowed, origin_allowed
from tests.conftest import MODELS_DIR, assert_error, client_for

LIVE = "/api/models/mnist-convnet/live"


@pytest.mark.parametrize(
    "origin,host,allowed,expected",
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000", (), True),
        ("https://vis.school.org", "vis.school.org", (), True),  # TLS ended by a proxy: no port on either
        ("http://VIS.school.org", "vis.school.org", (), True),
        ("http://[::1]:8000", "[::1]:8000", (), True),
        ("http://127.0.0.1:8001", "127.0.0.1:8000", (), False),  # another port is another origin
        ("http://vis.school.org:8080", "vis.school.org", (), False),
        ("http://evil.example", "vis.school.org", (), False),
        ("null", "vis.school.org", (), False),  # sandboxed frames, file:// pages
        ("https://lms.school.org", "vis.school.org", ("https://lms.school.org",), True),
        ("https://lms.school.org", "vis.school.org", ("https://other.school.org",), False),
        ("http://anything.example", "vis.school.org", ("*",), True),
    ],
)
def test_origin_rules(origin, host, allowed, expected):
    assert origin_allowed(origin, host, allowed) is expected


@pytest.mark.parametrize(
    "host,patterns,expected",
    [
        ("vis.school.org", ("vis.school.org",), True),
        ("vis.school.org:8000", ("vis.school.org",), True),
        ("a.school.org", ("*.school.org",), True),
        ("school.org.evil.example", ("*.school.org",), False),
        ("evil.example", ("vis.school.org", "localhost"), False),
        ("anything", ("*",), True),
    ],
)
def test_host_rules(host, patterns, expected):
    assert host_allowed(host, patterns) is expected


def test_the_live_channel_refuses_foreign_pages(client):
    with pytest.raises(WebSocketDenialResponse) as refused:
        with client.websocket_connect(LIVE, headers={"origin": "http://evil.example"}):
            pass
    assert refused.value.status_code == 403
    assert "CONVNET_VIS_ALLOWED_ORIGINS" in refused.value.json()["detail"]
    with client.websocket_connect(LIVE, headers={"origin": "http://testserver"}) as socket_:
        socket_.send_json({"seq": 1, "pixels": [[0.0] * 28] * 28, "layers": ["output"]})
        assert socket_.receive_json()["seq"] == 1


def test_allow_lists_for_origins_and_hosts(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "mnist-lenet.keras").symlink_to(MODELS_DIR / "mnist-lenet.keras")
    with client_for(models, allowed_origins=("https://lms.school.org",), allowed_hosts=("testserver", "*.school.org")) as client:
        with client.websocket_connect("/api/models/mnist-lenet/live", headers={"origin": "https://lms.school.org"}):
            pass
        assert client.get("/api/health", headers={"host": "vis.school.org"}).status_code == 200
        response = client.get("/api/health", headers={"host": "rebound.evil.example"})
        assert_error(response, 400)
        assert "rebound.evil.example" in response.json()["detail"]
        with pytest.raises(WebSocketDenialResponse) as refused:
            with client.websocket_connect("/api/models/mnist-lenet/live", headers={"host": "evil.example"}):
                pass
        assert refused.value.status_code == 400


def test_security_headers(client):
    page = client.get("/")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "style-src 'self';" in policy and "'unsafe" not in policy
    assert "connect-src 'self' ws://testserver wss://testserver" in policy
    assert "img-src 'self' data: blob:;" in policy and "frame-ancestors 'none'" in policy
    # the page has no inline script or style for the policy to block
    assert not re.search(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son\w+=", page.text)
    for response in (page, client.get("/api/health"), client.get("/static/js/main.js")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"
    assert client.get("/api/models").headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_docs_load_nothing_from_other_hosts(client):
    docs = client.get("/docs")
    assert docs.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert sources and all(source.startswith("/static/vendor/swagger-ui/") for source in sources), sources
    for source in sources:
        assert client.get(source).status_code == 200
    assert "'sha256-" in docs.headers["content-security-policy"]
    assert client.get("/redoc").status_code == 404  # ReDoc only exists from a CDN
