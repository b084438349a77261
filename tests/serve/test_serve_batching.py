"""Micro-batching, the bounded queue, isolation of bad requests in a batch and graceful shutdown, on the
real server with an instrumented model (:class:`serve_helpers.Instrumented`: records the size of every
``Geolocator.predict`` call and holds it at a gate, so that later requests queue up behind it)."""

from __future__ import annotations

import io
import threading
import time
import urllib.error
import urllib.request

import pytest
from PIL import Image
from serve_helpers import Instrumented, held, jpeg, wait_for

from geoloc.serve.app import ServeSettings
from geoloc.serve.client import Client, ServerError
from geoloc.serve.server import start_background

pytestmark = pytest.mark.timeout(180)


def predict_one(url: str, data: bytes, rid: str) -> dict:
    with Client(url) as c:
        return c.predict([data], request_id=rid)


@pytest.fixture
def serving(geolocator):
    """``start(settings)`` -> (instrumented model, server, queued()); every server is stopped afterwards."""
    started = []

    def start(settings: ServeSettings):
        model = Instrumented(geolocator)
        srv = start_background(model, settings=settings)
        started.append((model, srv))
        return model, srv, lambda: srv.app.state.server.batcher.depth

    yield start
    for model, srv in started:
        model.gate.set()
        srv.stop()


def assert_matches(doc: dict, data: bytes, geolocator) -> None:
    want = geolocator.predict(data)[0]
    got = doc["predictions"][0]
    assert (got["lat"], got["lon"]) == pytest.approx((want.lat, want.lon), abs=1e-4)
    assert [t["cell"] for t in got["top_k"]] == [t.cell for t in want.top_k]


def test_requests_arriving_together_go_through_one_predict_call(serving, geolocator):
    """8 requests that arrive while the model is busy are answered by ONE more predict call, each with its
    own image's prediction (no mix-up) and its own id."""
    model, srv, queued = serving(ServeSettings(max_batch=16, max_wait_ms=20))
    images = {f"r{i}": jpeg(200 + i) for i in range(8)}
    first, rest, _ = held(model, queued, lambda: predict_one(srv.url, jpeg(199), "first"),
                          [lambda rid=rid: predict_one(srv.url, images[rid], rid) for rid in images], 8)
    assert first["id"] == "first" and first["batch"]["size"] == 1
    assert model.calls == [1, 8]
    for (rid, data), doc in zip(images.items(), rest, strict=True):
        assert doc["id"] == rid and doc["batch"]["size"] == 8
        assert_matches(doc, data, geolocator)


def test_max_batch_is_respected_and_a_large_request_is_not_split(serving):
    model, srv, queued = serving(ServeSettings(max_batch=4, max_wait_ms=20))
    sizes = [3, 2, 2, 5, 1]
    jobs = [lambda n=n, k=k: Client(srv.url).predict([jpeg(300 + 10 * k + j) for j in range(n)])
            for k, n in enumerate(sizes)]
    _, rest, _ = held(model, queued, lambda: predict_one(srv.url, jpeg(299), "first"), jobs, len(sizes))
    assert [len(r["predictions"]) for r in rest] == sizes
    assert model.calls[0] == 1 and sum(model.calls) == 1 + sum(sizes)
    assert 5 in model.calls and all(c <= 4 for c in model.calls if c != 5)  # the 5-location request ran alone
    assert len(model.calls) < 1 + len(sizes)  # and smaller ones were batched together


def test_full_queue_answers_503_with_retry_after_at_once(serving):
    model, srv, queued = serving(ServeSettings(max_batch=1, max_wait_ms=0, max_queue=2))

    def refused_while_full():
        t = time.perf_counter()
        with Client(srv.url) as c:
            with pytest.raises(ServerError) as e:
                c.predict([jpeg(9)])
            return e.value, time.perf_counter() - t, c.metrics()

    first, rest, (err, seconds, metrics) = held(
        model, queued, lambda: predict_one(srv.url, jpeg(400), "q0"),
        [lambda i=i: predict_one(srv.url, jpeg(400 + i), f"q{i}") for i in (1, 2)], 2, refused_while_full)
    assert err.status == 503 and "queue is full" in err.message and err.retry_after >= 1
    assert seconds < 5  # refused at once, not after waiting
    assert [first["id"]] + [r["id"] for r in rest] == ["q0", "q1", "q2"]  # the queued ones still get answers
    assert "geoloc_rejected_total 1" in metrics
    assert 'geoloc_requests_total{route="/v1/predict",status="503"} 1' in metrics


def test_a_bad_request_does_not_disturb_the_others_in_its_batch(serving, geolocator):
    """A corrupt upload is refused (400) while the good requests that arrived with it are batched and
    answered; a request that makes the whole predict call fail gets a one-line 500 alone, its batch-mates 200."""
    model, srv, queued = serving(ServeSettings(max_batch=16, max_wait_ms=20))
    poison = io.BytesIO()
    Image.new("RGB", (13, 13), (1, 2, 3)).save(poison, format="PNG")
    model.fail_size = (13, 13)
    good = {f"g{i}": jpeg(500 + i) for i in range(3)}
    jobs = [lambda rid=rid: predict_one(srv.url, good[rid], rid) for rid in good]
    jobs += [lambda: predict_one(srv.url, b"\xff\xd8\xff\xe0 not a jpeg", "corrupt"),
             lambda: predict_one(srv.url, poison.getvalue(), "poison")]
    first, rest, _ = held(model, queued, lambda: predict_one(srv.url, jpeg(499), "first"), jobs, 4)
    *answers, corrupt, poisoned = rest
    assert first["id"] == "first"
    for (rid, data), doc in zip(good.items(), answers, strict=True):
        assert doc["id"] == rid and doc["batch"]["size"] == 4
        assert_matches(doc, data, geolocator)
    assert isinstance(corrupt, ServerError) and corrupt.status == 400 and "images[0]" in corrupt.message
    assert isinstance(poisoned, ServerError) and poisoned.status == 500
    assert "injected failure" in poisoned.message and "second line" not in poisoned.message
    # the 4-location call raised; then each of its requests ran alone: only the poisoned one failed
    assert model.calls == [1, 4, 1, 1, 1, 1]


def refused(url: str) -> bool:
    try:
        urllib.request.urlopen(url + "/healthz", timeout=2)
    except urllib.error.HTTPError:
        return False
    except OSError:
        return True
    return False


def test_shutdown_answers_requests_in_flight(serving):
    model, srv, queued = serving(ServeSettings(max_batch=1, max_wait_ms=0))
    stopper = threading.Thread(target=srv.stop)

    def begin_shutdown():
        stopper.start()
        wait_for(lambda: refused(srv.url))  # no new connections once shutdown has begun
        return stopper.is_alive()  # ... while the requests in flight are still held

    first, rest, still_stopping = held(model, queued, lambda: predict_one(srv.url, jpeg(600), "s0"),
                                       [lambda i=i: predict_one(srv.url, jpeg(600 + i), f"s{i}") for i in (1, 2)],
                                       2, begin_shutdown)
    stopper.join(60)
    assert still_stopping
    assert [first["id"]] + [r["id"] for r in rest] == ["s0", "s1", "s2"]  # every in-flight request answered
    assert not stopper.is_alive() and not srv.thread.is_alive()
    assert model.calls == [1, 1, 1]
