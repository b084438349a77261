"""The "Duel the model" mode of the Streamlit page (rendering only; the rules are :mod:`app.duel`).

Session state: ``duel_game`` (:class:`app.duel.ModelDuel`), ``duel_scene`` (the current round's
rendered place and the model's hidden prediction, keyed by duel seed and round) and
``duel_result`` (the round just played, shown until "Next round").
"""

from __future__ import annotations

import time

import streamlit as st

from app import duel as rules
from app import mapview, samples
from geoloc.errors import GeolocError

YOU_COLOUR = (124, 58, 237, 255)
TRUTH_COLOUR = (0, 0, 0, 255)


def _start(health: int = rules.INITIAL_HEALTH) -> None:
    st.session_state["duel_game"] = rules.new_duel(int(time.time_ns() % 2**31), health)
    for key in ("duel_scene", "duel_result"):
        st.session_state.pop(key, None)


def _next_round() -> None:
    for key in ("duel_scene", "duel_result"):
        st.session_state.pop(key, None)


def _scene(geo, duel: rules.ModelDuel) -> dict:
    """The round's place (4 views) and the model's prediction, made once and kept hidden until the guess."""
    key = (duel.seed, duel.number)
    cached = st.session_state.get("duel_scene")
    if cached is None or cached["key"] != key:
        with st.spinner("Rendering a new place..."):
            scene = samples.random_round(rules.round_seed(duel), samples.scene_size(geo.config.get("image_size")))
            pred = geo.predict([scene.views], views=None, top_k=5)[0]
        if not pred.ok:
            raise GeolocError(f"the model could not guess this place: {pred.error}")
        cached = {"key": key, "scene": scene, "pred": pred}
        st.session_state["duel_scene"] = cached
    return cached


def _hp_bars(duel: rules.ModelDuel) -> None:
    hp = duel.ledger.health
    start = duel.ledger.initial_health
    c1, c2 = st.columns(2)
    c1.progress(rules.hp_fraction(hp[rules.YOU], start), text=f"You: {hp[rules.YOU]:,} HP")
    c2.progress(rules.hp_fraction(hp[rules.MODEL], start), text=f"Model: {hp[rules.MODEL]:,} HP")


def _guess_input(number: int, click_grid) -> tuple[float, float] | None:
    """The person's guess: a dot picked on the land grid, or typed coordinates (these win)."""
    event = st.pydeck_chart(mapview.build_deck(None, click_grid=click_grid, base_map=False), key=f"duel_map_{number}",
                            on_select="rerun", selection_mode="single-object")
    clicked = samples.guess_from_selection(event)
    typed = st.text_input("...or type your guess (lat, lon)", key=f"duel_typed_{number}", placeholder="48.85, 2.35")
    try:
        guess = samples.parse_coordinates(typed) if typed.strip() else clicked
    except GeolocError as exc:
        st.error(str(exc))
        guess = None
    st.caption("Your guess: " + (f"{guess[0]:.2f}, {guess[1]:.2f}" if guess else "none yet"))
    return guess


def _show_round(played: rules.DuelRound, pred, show_radius: bool) -> None:
    o = played.outcome
    st.markdown(f"#### Round {o.number} (multiplier x{o.multiplier:g})")
    c1, c2 = st.columns(2)
    you_km = "no guess" if played.you_km is None else f"{played.you_km:,.0f} km off"
    c1.metric("You", f"{o.scores[rules.YOU] or 0} points", you_km, delta_color="off")
    c2.metric("Model", f"{o.scores[rules.MODEL] or 0} points", f"{played.model_km:,.0f} km off", delta_color="off")
    if o.damage_taken[rules.MODEL]:
        st.success(f"You dealt **{o.damage_taken[rules.MODEL]:,}** damage.")
    elif o.damage_taken[rules.YOU]:
        st.warning(f"The model dealt **{o.damage_taken[rules.YOU]:,}** damage.")
    else:
        st.info("Same points: no damage.")
    extra = [mapview.MapPoint(played.truth[0], played.truth[1], "true location", TRUTH_COLOUR)]
    if played.you is not None:
        extra.append(mapview.MapPoint(played.you[0], played.you[1], "your guess", YOU_COLOUR))
    st.pydeck_chart(mapview.build_deck(pred, extra_points=extra, show_radius=show_radius), key=f"duel_result_{o.number}")
    st.caption("Red: the model's guess (blue: its top-5 cells) · purple: yours · black: the true place")


def _show_summary(duel: rules.ModelDuel) -> None:
    s = rules.summary(duel)
    title = {"you": "You win!", "model": "The model wins.", "draw": "A draw."}[s["winner"]]
    st.subheader(title)
    c1, c2, c3 = st.columns(3)
    c1.metric("Rounds", s["rounds"])
    c2.metric("Rounds won (you / model)", f"{s['rounds_won']['you']} / {s['rounds_won']['model']}")
    c3.metric("Damage dealt (you / model)", f"{s['damage_dealt']['you']:,} / {s['damage_dealt']['model']:,}")
    st.markdown("**Distance per round**")
    st.dataframe(rules.round_table(duel), hide_index=True, width="stretch")


def duel_mode(geo, show_radius: bool, click_grid) -> None:
    """Render the duel mode; ``click_grid``: the land dots of the guess map (app.samples.click_grid)."""
    st.markdown("A GeoGuessr duel against the model: the same SynthWorld place for both of you each round. "
                "The lower score loses the difference in HP, times the round's multiplier (x1 for rounds 1-4, "
                "then x1.5, x2, x2.5, ...). The model's guess is made when the place appears and shown after yours.")
    if "duel_game" not in st.session_state:
        _start()
    duel: rules.ModelDuel = st.session_state["duel_game"]
    _hp_bars(duel)
    played: rules.DuelRound | None = st.session_state.get("duel_result")
    if played is None:
        if duel.finished:  # a finished duel restored without its last result
            _show_summary(duel)
            st.button("New duel", key="duel_new", on_click=_start, type="primary")
            return
        round_ = _scene(geo, duel)
        scene = round_["scene"]
        st.markdown(f"#### Round {duel.number} · multiplier x{duel.multiplier:g}")
        st.image(scene.views, width=180, caption=["north", "east", "south", "west"])
        guess = _guess_input(duel.number, click_grid)
        if st.button("Submit guess", key="duel_submit", type="primary", disabled=guess is None):
            pred = round_["pred"]
            st.session_state["duel_result"] = rules.play_round(duel, (scene.lat, scene.lon), guess,
                                                               (float(pred.lat), float(pred.lon)))
            st.rerun()
        return
    _show_round(played, st.session_state["duel_scene"]["pred"], show_radius)
    if duel.finished:
        _show_summary(duel)
        st.button("New duel", key="duel_new", on_click=_start, type="primary")
    else:
        st.button("Next round", key="duel_next", on_click=_next_round, type="primary")


__all__ = ["duel_mode"]
