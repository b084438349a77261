"""``geoloc serve``: one HTTP inference server for programs, scripts and the bot.

* :mod:`geoloc.serve.app`: the Starlette app (``/v1/predict``, PIGEON's ``/api/v1/predict``, ``/healthz``,
  ``/v1/model``, ``/metrics``);
* :mod:`geoloc.serve.batcher`: dynamic micro-batching through one ``Geolocator.predict`` call, bounded queue;
* :mod:`geoloc.serve.payloads`: request bodies (JSON / multipart / PIGEON) and image decoding with limits;
* :mod:`geoloc.serve.metrics`: counters and histograms in Prometheus text format;
* :mod:`geoloc.serve.server`: uvicorn in the foreground or a background thread, graceful shutdown;
* :mod:`geoloc.serve.cli`: the ``geoloc serve`` command.

See docs/serve.md.
"""
