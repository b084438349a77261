"""The Streamlit page: thin rendering over the pure modules of :mod:`app`.

Modes (sidebar): locate uploaded photos, SynthWorld samples, play against the model, model card.
The sidebar also switches the model source (the default model, zero-shot CLIP, a bundle folder or an
``hf-hub:`` name; :func:`source_picker`); a source that cannot be loaded leaves the current model in
place and says why in one line. Heavy state lives in ``st.session_state`` (results keyed by the SHA-256 of
the uploads, the current game round, the chosen model spec) so reruns caused by widgets do not predict
again.
"""

from __future__ import annotations

import logging
import sys
import time

import streamlit as st

from app import mapview, modelinfo, results, samples, uploads, warmup
from geoloc.errors import GeolocError

LOG = logging.getLogger("geoloc.app")
MODES = ["Locate photos", "SynthWorld samples", "Play against the model", "Duel the model", "Model card"]
TOP_K = 5
PLAYER_COLOUR = (124, 58, 237, 255)
TRUTH_COLOUR = (0, 0, 0, 255)


# --------------------------------------------------------------------------- cached resources


def load_geolocator(spec: str):
    """The model of a source spec (a bundle folder, ``hf-hub:`` or ``zero-shot:``), loaded once per server
    process and shared by every session (:mod:`app.warmup`; the server's warm-up thread has usually loaded
    the initial one before the first page asks)."""
    if warmup.is_loaded(spec):
        return warmup.shared_geolocator(spec)
    with st.spinner("Loading the model (once per server; a zero-shot CLIP also encodes its prompts, cached "
                    "on disk afterwards)..."):
        return warmup.shared_geolocator(spec)


@st.cache_resource(show_spinner=False)
def cached_click_grid() -> list[dict[str, float]]:
    return samples.click_grid()


@st.cache_resource(show_spinner=False)
def cached_sample(label: str, size: int):
    return samples.render_sample(label, size)


def model_path() -> str:
    """The server's model: ``--model`` after ``--`` on the streamlit command line, ``$GEOLOC_MODEL``, or the
    default bundle (a folder, or an ``hf-hub:`` / ``zero-shot:`` spec)."""
    return modelinfo.server_spec(modelinfo.model_arg(sys.argv[1:]))


def current_spec() -> str:
    """The model this session uses: the one picked in the sidebar, else the server's."""
    return st.session_state.get("model_spec") or model_path()


def source_picker() -> str | None:
    """Sidebar fields to switch the model source; returns the new spec when "Load model" is pressed."""
    with st.expander("Model source"):
        choice = st.radio("Source", modelinfo.SOURCE_CHOICES, key="source_choice")
        fields: dict[str, str] = {}
        if choice == modelinfo.SOURCE_CHOICES[1]:
            fields["arch"] = st.text_input("CLIP architecture (open_clip name or hf-hub:ORG/REPO)", "ViT-B-32",
                                           key="zs_arch")
            fields["weights"] = st.text_input("Pretrained tag or checkpoint file", "openai", key="zs_weights")
            fields["cells"] = st.text_input("Geocells: file or bundle (empty: the default model's)", "",
                                            key="zs_cells")
            fields["calibration"] = st.text_input("Calibration file (optional)", "", key="zs_calibration")
        elif choice == modelinfo.SOURCE_CHOICES[2]:
            fields["bundle"] = st.text_input("Bundle folder or hf-hub:ORG/NAME[@REVISION]", "", key="bundle_spec")
        if st.button("Load model", key="load_model"):
            return modelinfo.spec_from_sidebar(choice, **fields)
    return None


def switch_model() -> None:
    """Apply the sidebar's source choice: load it (errors: one line in the sidebar, the current model stays)."""
    try:
        new = source_picker()
        if new is None:
            return
        new = modelinfo.prepare_source(new)
        if new == current_spec():
            return
        load_geolocator(new)
    except GeolocError as exc:
        st.error(f"Model not changed: {exc}")
        return
    st.session_state["model_spec"] = new
    for k in ("results", "sample_results", "round_result"):
        st.session_state.pop(k, None)


# --------------------------------------------------------------------------- rendering pieces


def show_model_card(card: modelinfo.ModelCard, *, full: bool) -> None:
    if card.note:
        st.warning(card.note)
    if not full:
        st.caption(f"Model: **{card.title}** · {card.num_cells} geocells · {card.tower}")
        st.caption(f"Trained on: {card.data or 'not stated'}")
        return
    st.subheader(card.title)
    st.markdown(f"**Trained on:** {card.data or 'not stated'}")
    st.markdown(f"**Training command:** `{card.training_command or 'not stated'}`")
    if card.kind == "zero-shot":
        st.markdown(f"**Zero-shot fusion:** {card.fusion}")
    st.markdown(f"**Backbone:** `{card.tower}` · input {card.image_size} px · {card.views} view(s) per place · "
                f"{card.num_cells} geocells · retrieval refinement: {'yes' if card.refinement else 'no'}")
    if card.metrics:
        st.markdown("**Metrics**")
        st.table({"metric": list(card.metrics), "value": [str(v) for v in card.metrics.values()]})
        st.caption(f"Measured with `{card.metrics_command}`")
    st.caption(f"Bundle `{card.path}` · content hash `{card.content_hash[:16]}`")


def show_exif(res: results.Result) -> None:
    st.markdown("**Camera GPS (EXIF)**")
    if res.exif is None:
        st.caption("No GPS position in this file's EXIF.")
        return
    st.markdown(f"EXIF says **{res.exif[0]:.5f}, {res.exif[1]:.5f}**; the pixels say "
                f"**{res.prediction.lat:.4f}, {res.prediction.lon:.4f}**: **{res.exif_km:,.0f} km** apart.")
    st.caption("EXIF is only shown for comparison: it is never given to the model.")


def show_result(res: results.Result, geo, *, show_radius: bool, extra_points=(), key: str = "") -> None:
    """Map, top-5 table, country bars, EXIF panel and timings of one located photo."""
    p = res.prediction
    head = st.container()
    head.markdown(f"#### {res.name}")
    if res.note:
        head.caption(res.note)
    left, right = map_columns(mapview.build_deck(p, geocells=geo.geocells, exif=res.exif,
                                                 extra_points=extra_points, show_radius=show_radius), key)
    left.caption("Blue: top-5 geocell centroids (size ~ probability) · red: the model's guess and its "
                 "uncertainty radius · shaded: top geocells · green: camera GPS (EXIF)")
    with right:
        if res.thumbnails:
            st.image(res.thumbnails, width=110 if len(res.thumbnails) > 1 else 260)
        place = results.guess_place(p)
        st.metric("Model's guess", f"{p.lat:.4f}, {p.lon:.4f}",
                  help="Refined point when the bundle has prototypes, else the top-1 geocell centroid.")
        if place is not None:
            st.markdown(f"Nearest place: **{results.place_name(place)}**, {place.distance_km:.0f} km")
        st.markdown(f"Uncertainty radius: **{mapview.uncertainty_radius_km(p):,.0f} km** · "
                    f"inference **{p.timings_ms.get('total', 0.0):.0f} ms** ({res.views} view(s))")
        if res.truth is None:
            show_exif(res)
        else:
            km, pts = samples.score_guess((p.lat, p.lon), res.truth)
            st.markdown(f"True location {res.truth[0]:.3f}, {res.truth[1]:.3f}: the model is **{km:,.0f} km** "
                        f"off · **{pts}** GeoGuessr points")
    st.markdown("**Top-5 guesses**")
    st.dataframe(results.top_k_table(p), hide_index=True, width="stretch")
    c1, c2 = st.columns(2)
    with c1:
        st.markdown("**Most likely countries**")
        show_probabilities(results.country_table(p)[["country", "probability"]])
    with c2:
        st.markdown("**Most likely admin-1 regions**")
        show_probabilities(results.admin1_table(p))


def map_columns(deck, key: str):
    """A heading container's sibling: two columns, the map first in the left one; returns (left, right).
    The map always sits at the same place in the page's element tree (the world map shown before any
    upload included), so a new result updates the browser's existing map instead of building a new one."""
    left, right = st.columns([3, 2])
    left.pydeck_chart(deck, key=f"map-{key}")
    return left, right


def show_probabilities(table) -> None:
    """A ranked region table with the probability drawn as a bar in its cell (the dataframe grid the page
    already loads; a Vega chart would load and lay out a charting library on every new page)."""
    if len(table):
        st.dataframe(table, hide_index=True, width="stretch", column_config={
            "probability": st.column_config.ProgressColumn("probability", format="percent", min_value=0.0,
                                                           max_value=1.0)})


def show_downloads(res_list: list[results.Result], key: str) -> None:
    c1, c2 = st.columns(2)
    c1.download_button("Download CSV", results.batch_csv(res_list), "geoloc-results.csv", "text/csv",
                       key=f"csv-{key}")
    c2.download_button("Download JSON", results.batch_json(res_list), "geoloc-results.json", "application/json",
                       key=f"json-{key}")


# --------------------------------------------------------------------------- modes


def locate_mode(geo, show_radius: bool) -> None:
    st.markdown("Upload one or many photos (JPEG, PNG, WebP, TIFF, BMP, GIF, HEIC/HEIF, AVIF). "
                "Each photo is located from its pixels alone.")
    mode = st.selectbox("How to read the files", list(uploads.MODES), format_func=uploads.MODES.get, key="input_mode")
    files = st.file_uploader("Photos", accept_multiple_files=True, key="uploads")
    summary, detail = st.container(), st.container()  # batch results, then the chosen location (a map)
    if not files:
        summary.info("Drop photos above, or try the SynthWorld samples (sidebar).")
        with detail:
            st.container()  # where a result's heading goes
            map_columns(mapview.build_deck(None), "locate")[1].caption(
                "Your photos' locations will be drawn here, from their pixels alone.")
        return
    ups = [uploads.Upload(f.name, f.getvalue()) for f in files]
    key = uploads.content_key(ups, mode)
    cache = st.session_state.setdefault("results", {})
    if key not in cache:
        with st.spinner(f"Locating {len(ups)} file(s)..."):
            cache.clear()  # keep one batch per session in memory
            cache[key] = uploads.locate_uploads(geo, ups, mode, top_k=TOP_K)
    res_list: list[results.Result] = cache[key]
    good = [r for r in res_list if r.ok]
    bad = [r for r in res_list if not r.ok]
    with summary:
        for r in bad:
            st.error(r.message)
        if bad:
            st.caption(f"{len(good)} of {len(res_list)} location(s) located; {len(bad)} could not be read.")
        if len(res_list) > 1:
            st.markdown("**All results**")
            st.dataframe(results.batch_table(res_list), hide_index=True, width="stretch")
        if res_list:
            show_downloads(res_list, key[:12])
        if not good:
            return
        chosen = good[0]
        if len(good) > 1:
            names = [r.name for r in good]
            chosen = good[names.index(st.selectbox("Details for", names, key="detail"))]
    with detail:
        show_result(chosen, geo, show_radius=show_radius, key="locate")


def samples_mode(geo, show_radius: bool) -> None:
    st.markdown("SynthWorld scenes are procedurally rendered streets whose true location is known: "
                "pick one and see how far off the model is.")
    label = st.selectbox("Sample place", list(samples.SAMPLE_PLACES), key="sample")
    if st.button("Render and locate", key="sample_go", type="primary"):
        st.session_state["sample_shown"] = label
    shown = st.session_state.get("sample_shown")
    if shown is None:
        return
    size = samples.scene_size(geo.config.get("image_size"))
    scene = cached_sample(shown, size)
    cache = st.session_state.setdefault("sample_results", {})
    if shown not in cache:
        pred = geo.predict([scene.views], views=None, top_k=TOP_K)[0]
        pred.source = f"SynthWorld: {shown}"
        cache[shown] = results.Result(name=f"SynthWorld sample: {shown}", prediction=pred, views=len(scene.views),
                                      truth=(scene.lat, scene.lon), thumbnails=scene.views,
                                      note="4 views, headings 0/90/180/270")
    res = cache[shown]
    show_result(res, geo, show_radius=show_radius, key="sample",
                extra_points=[mapview.MapPoint(scene.lat, scene.lon, f"true location: {shown}", TRUTH_COLOUR)])


def _new_round() -> None:
    st.session_state["round_seed"] = int(time.time_ns() % 2**31)
    for k in ("round_scene", "round_result", "typed_guess"):
        st.session_state.pop(k, None)


def play_mode(geo, show_radius: bool) -> None:
    st.markdown("Look at the four views of a SynthWorld street, then place your guess: click a spot on the "
                "map (land, 2° grid) or type coordinates. You and the model are both scored with the "
                "GeoGuessr formula, 5000·exp(−d / 1492.7 km).")
    totals = st.session_state.setdefault("play_totals", {"rounds": 0, "you": 0, "model": 0})
    if "round_seed" not in st.session_state:
        _new_round()
    if "round_scene" not in st.session_state:
        with st.spinner("Rendering a new place..."):
            st.session_state["round_scene"] = samples.random_round(
                st.session_state["round_seed"], samples.scene_size(geo.config.get("image_size")))
    scene: samples.Scene = st.session_state["round_scene"]
    st.image(scene.views, width=180, caption=["north", "east", "south", "west"])
    done = st.session_state.get("round_result")
    if done is None:
        event = st.pydeck_chart(mapview.build_deck(None, click_grid=cached_click_grid(), base_map=False), key="play_map",
                                on_select="rerun", selection_mode="single-object")
        clicked = samples.guess_from_selection(event)
        typed = st.text_input("...or type your guess (lat, lon)", key="typed_guess", placeholder="48.85, 2.35")
        guess = None
        try:
            guess = samples.parse_coordinates(typed) if typed.strip() else clicked
        except GeolocError as exc:
            st.error(str(exc))
        st.caption("Your guess: " + (f"{guess[0]:.2f}, {guess[1]:.2f}" if guess else "none yet"))
        if st.button("Submit guess", key="submit_guess", type="primary", disabled=guess is None):
            pred = geo.predict([scene.views], views=None, top_k=TOP_K)[0]
            you_km, you_pts = samples.score_guess(guess, (scene.lat, scene.lon))
            model_km, model_pts = samples.score_guess((pred.lat, pred.lon), (scene.lat, scene.lon))
            done = {"guess": guess, "pred": pred, "you": (you_km, you_pts), "model": (model_km, model_pts)}
            st.session_state["round_result"] = done
            totals["rounds"] += 1
            totals["you"] += you_pts
            totals["model"] += model_pts
    if done is not None:
        c1, c2 = st.columns(2)
        c1.metric("You", f"{done['you'][1]} points", f"{done['you'][0]:,.0f} km off", delta_color="off")
        c2.metric("Model", f"{done['model'][1]} points", f"{done['model'][0]:,.0f} km off", delta_color="off")
        res = results.Result(name="This round", prediction=done["pred"], views=len(scene.views),
                             truth=(scene.lat, scene.lon))
        show_result(res, geo, show_radius=show_radius, key="play", extra_points=[
            mapview.MapPoint(done["guess"][0], done["guess"][1], "your guess", PLAYER_COLOUR),
            mapview.MapPoint(scene.lat, scene.lon, "true location", TRUTH_COLOUR)])
        st.button("Next round", key="next_round", on_click=_new_round)
    st.caption(f"Total after {totals['rounds']} round(s): you {totals['you']} · model {totals['model']}")


# --------------------------------------------------------------------------- page


def main() -> None:
    st.set_page_config(page_title="geoloc: where was this photo taken?", page_icon="🌍", layout="wide")
    st.title("geoloc: where was this photo taken?")
    with st.sidebar:
        mode = st.radio("Mode", MODES, key="mode")
        show_radius = st.checkbox("Show uncertainty radius", value=True, key="show_radius")
        switch_model()
    path = current_spec()
    geo = load_geolocator(path)
    card = modelinfo.model_card(geo, path)
    with st.sidebar:
        show_model_card(card, full=False)
        st.caption("Maps are drawn offline from Natural Earth outlines; nothing leaves this machine.")
    if mode == "Locate photos":
        locate_mode(geo, show_radius)
    elif mode == "SynthWorld samples":
        samples_mode(geo, show_radius)
    elif mode == "Play against the model":
        play_mode(geo, show_radius)
    elif mode == "Duel the model":
        from app.duel_page import duel_mode

        duel_mode(geo, show_radius, cached_click_grid())
    else:
        show_model_card(card, full=True)


def run_page() -> None:
    """:func:`main` with every error turned into one message on the page (never a traceback)."""
    try:
        main()
    except GeolocError as exc:
        st.error(f"{exc}")
    except Exception as exc:  # the page must never show a traceback; the server log keeps it
        LOG.exception("app error")
        st.error(f"Something went wrong: {type(exc).__name__}: {exc}. The server log has the details.")


__all__ = ["MODES", "current_spec", "load_geolocator", "main", "model_path", "run_page", "source_picker",
           "switch_model"]
