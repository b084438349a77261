"""``python -m app.launch run app/streamlit_app.py [streamlit options] -- --model PATH``: Streamlit's own
command line (exactly ``streamlit run ...``), after starting :func:`app.warmup.start_warm_up` for the
model named after ``--`` (else ``$GEOLOC_MODEL``, else the default bundle). The model then loads while
the server starts and the first browser connects. :func:`app.cli.streamlit_command` builds this command.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    """Start the warm-up thread, then run Streamlit's command line with ``argv`` (default: sys.argv[1:])."""
    from app.modelinfo import model_arg, resolve_model_path
    from app.warmup import start_warm_up
    from geoloc.errors import GeolocError

    argv = list(sys.argv[1:] if argv is None else argv)
    script_args = argv[argv.index("--") + 1:] if "--" in argv else []
    with contextlib.suppress(GeolocError):  # the page shows the bundle's error as one line
        start_warm_up(resolve_model_path(model_arg(script_args), build=False))
    from streamlit.web.cli import main as streamlit_main

    sys.argv = ["streamlit", *argv]
    streamlit_main(prog_name="streamlit")


if __name__ == "__main__":
    main()
