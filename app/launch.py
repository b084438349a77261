"""``python -m app.launch run app/streamlit_app.py [streamlit options] -- --model PATH``: Streamlit's own
command line (exactly ``streamlit run ...``), after starting :func:`app.warmup.start_warm_up` for the
model named after ``--`` (a bundle folder or a :mod:`geoloc.sources` spec; else ``$GEOLOC_MODEL``, else
the default bundle). The model then loads while
the server starts and the first browser connects. torch gets :func:`geoloc.threads.inference_threads`
(half the cores; ``$GEOLOC_THREADS`` overrides), as ``geoloc serve`` does. :func:`app.cli.streamlit_command` builds this command.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    """Start the warm-up thread, then run Streamlit's command line with ``argv`` (default: sys.argv[1:]).
    torch runs on :func:`geoloc.threads.default_inference_threads` threads (``$GEOLOC_THREADS`` to change)."""
    from app.modelinfo import model_arg, prepare_source
    from app.warmup import start_warm_up
    from geoloc.errors import GeolocError

    argv = list(sys.argv[1:] if argv is None else argv)
    script_args = argv[argv.index("--") + 1:] if "--" in argv else []
    path = None
    with contextlib.suppress(GeolocError):  # the page shows the model's error as one line
        path = prepare_source(model_arg(script_args), build=False)
    threads = os.environ.get("GEOLOC_THREADS", "")
    start_warm_up(path, threads=int(threads) if threads.isdigit() else None)
    from streamlit.web.cli import main as streamlit_main

    sys.argv = ["streamlit", *argv]
    streamlit_main(prog_name="streamlit")


if __name__ == "__main__":
    main()
