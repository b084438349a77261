"""geoloc serve over real HTTP (uvicorn on a loopback port in a background thread): every route, the
answers equal an in-process Geolocator prediction of the same bytes, and one-line 4xx errors."""

from __future__ import annotations

import base64
import json
import re
import socket
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest
from serve_helpers import jpeg

from geoloc.serve.app import ServeSettings
from geoloc.serve.client import Client, ServerError, multipart_body
from geoloc.serve.payloads import Limits
from geoloc.serve.server import start_background

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def server(geolocator):
    settings = ServeSettings(max_batch=8, max_wait_ms=2.0, max_queue=16,
                             limits=Limits(max_body_bytes=2_000_000, max_pixels=300_000, max_locations=4))
    srv = start_background(geolocator, settings=settings)
    yield srv
    srv.stop()


def assert_same_prediction(got: dict, want) -> None:
    """A served prediction (JSON) equals an in-process one (batching may change float rounding only)."""
    assert got["error"] is None and want.error is None
    assert (got["lat"], got["lon"]) == pytest.approx((want.lat, want.lon), abs=1e-4)
    assert [t["cell"] for t in got["top_k"]] == [t.cell for t in want.top_k]
    assert [t["probability"] for t in got["top_k"]] == pytest.approx([t.probability for t in want.top_k], abs=1e-6)
    assert [t["admin1"] for t in got["top_k"]] == [t.admin1 for t in want.top_k]
    assert [c["code"] for c in got["countries"][:3]] == [c.code for c in want.countries[:3]]
    assert got["views"] == want.views


def test_health_model_and_metrics(server, geolocator):
    with Client(server.url) as c:
        assert c.health()["status"] == "ok"
        card = c.model()
        assert card["config"] == json.loads(json.dumps(geolocator.config))
        assert card["geocells"] == len(geolocator.bundle.geocells) and card["server"]["max_batch"] == 8
        c.predict([jpeg(1)])
        text = c.metrics()
    assert re.search(r'^geoloc_requests_total\{route="/v1/predict",status="200"\} [1-9]\d*$', text, re.M)
    assert re.search(r"^geoloc_batch_size_count [1-9]\d*$", text, re.M)
    assert 'geoloc_request_duration_seconds_bucket{route="/v1/predict",le="+Inf"}' in text
    assert "# TYPE geoloc_batch_size histogram" in text


def test_json_images_match_in_process_predictions(server, geolocator):
    imgs = [jpeg(10), jpeg(11), jpeg(12)]
    with Client(server.url) as c:
        doc = c.predict(imgs, request_id="three", top_k=3)
    assert doc["id"] == "three" and len(doc["predictions"]) == 3
    for i, (got, data) in enumerate(zip(doc["predictions"], imgs, strict=True)):
        assert got["source"] == f"images[{i}]" and len(got["top_k"]) == 3
        assert_same_prediction(got, geolocator.predict(data, top_k=3)[0])


def test_views_of_one_location_and_panorama_cut(server, geolocator):
    views = [jpeg(20 + i) for i in range(4)]
    pano = jpeg(30, size=(256, 128))
    with Client(server.url) as c:
        fused = c.predict(locations=[views])["predictions"][0]
        cut = c.predict([pano], layout="panorama", views=4)["predictions"][0]
        strip = c.predict([jpeg(31, size=(256, 64))])["predictions"][0]  # auto: a 4:1 strip of 4 views
        with pytest.raises(ServerError) as e:
            c.predict(locations=[views[:2]], views=4)
    assert_same_prediction(fused, geolocator.predict([views], views=4)[0])
    assert_same_prediction(cut, geolocator.predict([pano], layout="panorama", views=4)[0])
    assert_same_prediction(strip, geolocator.predict([jpeg(31, size=(256, 64))])[0])
    assert (fused["layout"], cut["layout"], strip["layout"]) == ("views", "panorama", "strip")
    assert fused["views"] == 4 and cut["views"] == 4 and strip["views"] == 4
    assert e.value.status == 422 and "expected 4 view(s), got 2" in e.value.message


def test_multipart_upload_and_request_id_header(server, geolocator):
    data = jpeg(40)
    with Client(server.url) as c:
        doc = c.predict_files({"image": [("street.jpg", data)]}, request_id="up-1")
        views = c.predict_files({"view": [(f"v{i}.jpg", jpeg(50 + i)) for i in range(2)]}, fields={"top_k": "2"})
    assert doc["id"] == "up-1" and doc["predictions"][0]["source"] == "street.jpg"
    assert_same_prediction(doc["predictions"][0], geolocator.predict(data)[0])
    assert views["predictions"][0]["source"] == "v0.jpg + v1.jpg" and len(views["predictions"][0]["top_k"]) == 2
    assert_same_prediction(views["predictions"][0], geolocator.predict([[jpeg(50), jpeg(51)]], top_k=2)[0])


def test_pigeon_bot_protocol(server, geolocator):
    from PIL import Image

    from bot.predictor import HttpPredictor, pigeon_payload

    imgs = [Image.open(__import__("io").BytesIO(jpeg(60 + i))) for i in range(4)]
    guess = HttpPredictor(server.url + "/api/v1/predict").predict(imgs)
    body = pigeon_payload(imgs)
    want = geolocator.predict([[base64.b64decode(body[k].split(",", 1)[1]) for k in body]], top_k=1)[0]
    assert (guess.lat, guess.lng) == pytest.approx((want.lat, want.lon), abs=1e-4)


def post(url: str, body: bytes, ctype: str) -> tuple[int, dict, dict]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read())


def one_line(doc: dict) -> str:
    msg = doc.get("error") or doc.get("message")
    assert isinstance(msg, str) and msg and "\n" not in msg and "Traceback" not in msg
    return msg


def test_bad_requests_get_one_line_4xx(server):
    url = server.url + "/v1/predict"
    b64 = base64.b64encode(jpeg(1)).decode()
    cases = [
        (b"{not json", "application/json", 400, "not valid JSON"),
        (json.dumps({"images": ["@@@"]}).encode(), "application/json", 400, "not valid base64"),
        (json.dumps({"images": [b64], "locations": [[b64]]}).encode(), "application/json", 400, "exactly one"),
        (json.dumps({"images": [base64.b64encode(b"\xff\xd8\xff\xe0 broken").decode()]}).encode(),
         "application/json", 400, "images[0]"),
        (json.dumps({"images": [b64] * 5}).encode(), "application/json", 413, "limit is 4"),
        (json.dumps({"images": [b64], "top_k": 0}).encode(), "application/json", 422, "top_k"),
        (json.dumps({"images": [b64], "layout": "cube"}).encode(), "application/json", 422, "layout"),
        (json.dumps({"images": [b64], "layout": "views"}).encode(), "application/json", 422, "needs a list"),
        (b"hello", "text/plain", 415, "Content-Type"),
        (multipart_body({"image": [("notes.txt", b"hello")]})[0], None, 400, "notes.txt"),
        (multipart_body({"photo": [("a.jpg", jpeg(1))]})[0], None, 400, "unknown file field"),
    ]
    for body, ctype, status, fragment in cases:
        if ctype is None:  # multipart: the boundary is in the body's first line
            ctype = "multipart/form-data; boundary=" + body.split(b"\r\n", 1)[0][2:].decode()
        got, headers, doc = post(url, body, ctype)
        assert got == status and fragment in one_line(doc), (status, fragment, doc)
        assert headers.get("x-request-id") or headers.get("X-Request-ID")
    status, _, doc = post(server.url + "/api/v1/predict", b'{"image": 3}', "application/json")
    assert status == 400 and "base64" in one_line(doc)


def test_too_many_pixels_and_too_many_bytes(server):
    from PIL import Image

    buf = __import__("io").BytesIO()
    Image.new("RGB", (800, 600)).save(buf, format="PNG")  # 480,000 pixels > 300,000, a few KB
    with Client(server.url) as c:
        with pytest.raises(ServerError) as e:
            c.predict_files({"image": [("big.png", buf.getvalue())]})
        assert e.value.status == 413 and "big.png: 800x600" in e.value.message
    # a Content-Length over the limit is refused from the headers, before any of the body is read
    host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
    with socket.create_connection((host, port), timeout=30) as s:
        s.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 2000001\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            answer += s.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413") and b"too large" in answer


def test_streamed_body_is_cut_off_at_the_limit():
    """A body without Content-Length (chunked) is refused as soon as it passes the limit: the app sees
    RequestError(413) from ``receive`` and never more than the limit plus one chunk."""
    import asyncio

    from geoloc.serve.app import BodyLimit
    from geoloc.serve.payloads import RequestError

    chunks = [b"x" * 400] * 10
    seen = []

    async def app(scope, receive, send):
        while True:
            try:
                message = await receive()
            except RequestError as exc:
                seen.append(exc.status)
                return
            seen.append(len(message["body"]))
            if not message.get("more_body"):
                return

    async def run():
        it = iter(chunks)

        async def receive():
            body = next(it)
            return {"type": "http.request", "body": body, "more_body": True}

        await BodyLimit(app, max_bytes=1000)({"type": "http", "headers": []}, receive, None)

    asyncio.run(run())
    assert seen == [400, 400, 413]


def test_unknown_route_and_method(server):
    for method, path, status in [("GET", "/nope", 404), ("GET", "/v1/predict", 405)]:
        req = urllib.request.Request(server.url + path, method=method)
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code == status


def test_an_unexpected_error_is_one_line_500(geolocator, monkeypatch):
    import geoloc.serve.app as serve_app

    def broken(*args, **kwargs):
        raise KeyError("surprise")

    monkeypatch.setattr(serve_app, "from_json", broken)
    srv = start_background(geolocator)
    try:
        with Client(srv.url) as c:
            with pytest.raises(ServerError) as e:
                c.predict([jpeg(1)])
            assert c.health()["status"] == "ok"  # the server is still serving
    finally:
        srv.stop()
    assert e.value.status == 500 and e.value.message.startswith("internal error (KeyError)")
