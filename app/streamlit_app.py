"""Entry point of the web app: ``streamlit run app/streamlit_app.py [-- --model PATH]``.

Start it with ``geoloc app`` (see :mod:`app.cli`). Everything is in :mod:`app.page`; this file only
runs the page with its error guard.
"""

from app.page import run_page

run_page()
