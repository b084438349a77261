"""Pure parts of the server: the micro-batcher on a fake batch function, the metrics text, payload parsing."""

from __future__ import annotations

import asyncio
import base64
import re
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geoloc.serve.batcher import BatchItemError, MicroBatcher, QueueFull
from geoloc.serve.metrics import Histogram, Metrics
from geoloc.serve.payloads import Limits, RequestError, from_json, pigeon_views


def run(coro):
    return asyncio.run(coro)


def test_requests_within_max_wait_share_a_call_and_later_ones_do_not():
    calls = []

    def fn(items):
        calls.append(list(items))
        return [x * 10 for x in items]

    async def main():
        b = MicroBatcher(fn, max_batch=8, max_wait_ms=300)
        await b.start()

        async def later(items, delay):
            await asyncio.sleep(delay)
            return await b.submit(items)

        together = await asyncio.gather(later([1], 0), later([2, 3], 0.05), later([4], 0.1))
        await asyncio.sleep(0.05)
        alone = await b.submit([5])
        await b.stop()
        return together, alone

    together, alone = run(main())
    assert [r for r, _ in together] == [[10], [20, 30], [40]]
    assert all(info.size == 4 for _, info in together) and alone[1].size == 1
    assert calls == [[1, 2, 3, 4], [5]]


def test_zero_wait_still_batches_what_is_already_queued():
    calls = []

    def fn(items):
        calls.append(len(items))
        time.sleep(0.05)
        return items

    async def main():
        b = MicroBatcher(fn, max_batch=3, max_wait_ms=0)
        await b.start()
        out = await asyncio.gather(*(b.submit([i]) for i in range(7)))
        await b.stop()
        return out

    out = run(main())
    assert [r for r, _ in out] == [[i] for i in range(7)]
    assert sum(calls) == 7 and max(calls) <= 3 and len(calls) < 7


def test_queue_bound_and_stop_drains():
    gate = __import__("threading").Event()

    def fn(items):
        gate.wait(10)
        return items

    async def main():
        b = MicroBatcher(fn, max_batch=1, max_wait_ms=0, max_queue=2)
        await b.start()
        tasks = [asyncio.create_task(b.submit([0]))]
        await asyncio.sleep(0.05)  # 0 is in fn
        tasks += [asyncio.create_task(b.submit([i])) for i in (1, 2)]
        await asyncio.sleep(0.05)  # 1 and 2 wait: the queue is full
        with pytest.raises(QueueFull) as e:
            await b.submit([9])
        assert e.value.retry_after_s >= 1
        stopping = asyncio.create_task(b.stop())
        await asyncio.sleep(0.05)
        with pytest.raises(QueueFull, match="shutting down"):
            await b.submit([8])
        gate.set()
        await stopping
        return [(await t)[0] for t in tasks]

    assert run(main()) == [[0], [1], [2]]


def test_a_failing_batch_is_retried_per_request():
    def fn(items):
        if "bad" in items:
            raise ValueError("cannot\nsecond line")
        return [x.upper() for x in items]

    async def main():
        b = MicroBatcher(fn, max_batch=8, max_wait_ms=100)
        await b.start()
        out = await asyncio.gather(b.submit(["a"]), b.submit(["bad", "c"]), b.submit(["d"]),
                                   return_exceptions=True)
        await b.stop()
        return out

    a, bad, d = run(main())
    assert a[0] == ["A"] and d[0] == ["D"]
    assert isinstance(bad, BatchItemError) and str(bad) == "prediction failed: ValueError: cannot"


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 20, allow_nan=False), max_size=60))
def test_histogram_buckets_count_like_a_loop(xs):
    bounds = (0.5, 1.0, 2.5, 10.0)
    h = Histogram(bounds)
    for x in xs:
        h.observe(x)
    want = [sum(1 for x in xs if x <= b) for b in bounds] + [len(xs)]
    assert [n for _, n in h.cumulative()] == want
    assert h.count == len(xs) and h.sum == pytest.approx(float(np.sum(xs)))


def test_metrics_text_format():
    m = Metrics()
    m.request_done('/v1/"odd"\\path', 200, 0.02)
    m.request_done("/v1/predict", 503, 0.001)
    m.batch_done(3, 0.04, [0.001, 0.002, 0.003])
    text = m.render()
    sample = re.compile(r'^[a-z_]+(\{([a-z_]+="([^"\\\n]|\\["\\n])*",?)+\})? -?[0-9.e+-]+$')
    for line in text.splitlines():
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or sample.match(line), line
    assert 'route="/v1/\\"odd\\"\\\\path"' in text
    assert 'geoloc_batch_size_bucket{le="2.0"} 0' in text and 'geoloc_batch_size_bucket{le="4.0"} 1' in text
    assert "geoloc_locations_total 3" in text and "geoloc_queue_wait_seconds_count 3" in text


def test_json_payloads():
    img = base64.b64encode(b"\x89PNG fake").decode()
    req = from_json({"images": [img, "data:image/png;base64," + img], "top_k": 3}, Limits(), "hdr")
    assert req.id == "hdr" and req.locations == [[b"\x89PNG fake"]] * 2 and req.top_k == 3
    assert from_json({"id": "body", "locations": [[img, img]]}, Limits(), "hdr").id == "body"
    assert len(from_json({"images": [img]}, Limits()).id) == 32  # generated when none is given
    for doc, status in [([], 400), ({"images": "x"}, 400), ({"locations": [img]}, 400), ({"images": []}, 400),
                        ({"locations": [[]]}, 400), ({"images": [img], "top_k": 1.5}, 422),
                        ({"images": [img], "views": 99}, 422), ({"locations": [[img] * 9]}, 413)]:
        with pytest.raises(RequestError) as e:
            from_json(doc, Limits())
        assert e.value.status == status, doc
    assert pigeon_views({"image_10": img, "image": img, "image_2": img, "other": 1}) == [b"\x89PNG fake"] * 3


def test_cli_user_errors_are_one_line(tmp_path, tiny_bundle_dir):
    import socket

    from typer.testing import CliRunner

    from geoloc.cli import app
    from geoloc.errors import BundleError, GeolocError

    r = CliRunner().invoke(app, ["serve", "--max-batch", "0"])
    assert isinstance(r.exception, GeolocError) and "--max-batch" in str(r.exception)
    r = CliRunner().invoke(app, ["serve", "--model", str(tmp_path / "missing"), "--port", "0"])
    assert isinstance(r.exception, BundleError)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = CliRunner().invoke(app, ["serve", "--model", str(tiny_bundle_dir), "--port", str(port)])
    assert isinstance(r.exception, GeolocError) and f"cannot listen on 127.0.0.1:{port}" in str(r.exception)
    r = CliRunner().invoke(app, ["serve", "--help"])
    assert r.exit_code == 0 and "--max-wait-ms" in r.output and "--max-batch" in r.output


def test_inference_threads(monkeypatch):
    import torch

    from geoloc.errors import GeolocError
    from geoloc.threads import default_inference_threads, inference_threads

    before = torch.get_num_threads()
    try:
        monkeypatch.setattr("os.cpu_count", lambda: 2)
        assert default_inference_threads() == 1
        monkeypatch.setattr("os.cpu_count", lambda: 16)
        assert default_inference_threads() == 8
        assert inference_threads(3) == 3 and torch.get_num_threads() == 3
        with pytest.raises(GeolocError, match="--threads"):
            inference_threads(0)
    finally:
        torch.set_num_threads(before)


def test_accepted_connections_have_nagle_off():
    """asyncio turns Nagle off only for sockets made with IPPROTO_TCP; with it on, each answer after the
    first on a kept-alive connection waited ~40 ms for the client's delayed ACK."""
    import socket

    from geoloc.serve.server import bind

    sock = bind("127.0.0.1", 0)
    assert sock.proto == socket.IPPROTO_TCP and sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    seen = []

    async def main():
        loop = asyncio.get_running_loop()
        connected = loop.create_future()

        class Proto(asyncio.Protocol):
            def connection_made(self, transport):
                s = transport.get_extra_info("socket")
                seen.append(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                connected.set_result(None)

        server = await loop.create_server(Proto, sock=sock)
        _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        await asyncio.wait_for(connected, 10)
        writer.close()
        server.close()

    run(main())
    assert seen and seen[0] != 0


def test_bot_serve_model_is_geoloc_serve_on_port_5000(monkeypatch, tiny_bundle_dir):
    from typer.testing import CliRunner

    import geoloc.serve.server as server
    from bot.cli import app

    seen = []
    monkeypatch.setattr(server, "serve", lambda *args, **kwargs: seen.append((args, kwargs)))
    r = CliRunner().invoke(app, ["serve-model", "--model", str(tiny_bundle_dir)])
    assert r.exit_code == 0, r.output
    assert len(seen) == 1 and seen[0][0][1:] == ("127.0.0.1", 5000) and seen[0][1] == {}
    source = seen[0][0][0]  # the model source the command parsed: the bundle folder given
    assert (source.kind, source.name) == ("bundle", str(tiny_bundle_dir))
