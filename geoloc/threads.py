"""How many CPU threads torch uses for inference inside a server process.

A server (the web app, ``geoloc serve``) runs the model beside its own threads: the event loop, image
decoding, Streamlit's script runners. With torch's default (one intra-op thread per core) those
threads and the other processes of a busy machine oversubscribe the cores, and OpenMP's threads wait
on each other: measured on the 2-core development machine under load ~6, the default model's
``predict`` took 175-190 ms median (p90 800 ms) with 2 threads and 25-41 ms (p90 43-140 ms) with 1.
:func:`inference_threads` therefore defaults to half the logical cores, at least 1.
"""

from __future__ import annotations

import os


def default_inference_threads() -> int:
    """Half the logical cores (at least 1): 1 on a 2-core machine."""
    return max(1, (os.cpu_count() or 2) // 2)


def inference_threads(n: int | None = None) -> int:
    """Set torch's intra-op threads to ``n`` (default :func:`default_inference_threads`); returns it."""
    import torch

    n = default_inference_threads() if n is None else int(n)
    if n < 1:
        from geoloc.errors import GeolocError

        raise GeolocError(f"--threads must be >= 1, got {n}")
    torch.set_num_threads(n)
    return n


__all__ = ["default_inference_threads", "inference_threads"]
