// Panorama controls shared by the game, country-streak and duel pages: the view <img> of
// [data-qa=panorama], the compass ([data-qa=compass]: +90 degrees; ArrowLeft / ArrowRight) and
// the zoom buttons ([data-qa=pano-zoom-in|out], a CSS scale). Views: /pano/{panoId}/{heading}.jpg.
"use strict";

const Panorama = (() => {
  const HEADINGS = [0, 90, 180, 270];
  const ZOOMS = [1, 1.5, 2, 3];

  function setDisabled(el, disabled) {
    el.disabled = disabled;
    el.dataset.disabled = disabled ? "true" : "false";
  }

  // seconds -> "m:ss" (rounded up, never negative)
  function formatTime(seconds) {
    const s = Math.max(0, Math.ceil(seconds));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  // locked(): true while the view must not turn (e.g. a guess is being sent).
  function create(locked) {
    const $ = (sel) => document.querySelector(sel);
    const img = $("[data-qa=panorama] img");
    const compass = $("[data-qa=compass]");
    const zoomIn = $("[data-qa=pano-zoom-in]");
    const zoomOut = $("[data-qa=pano-zoom-out]");
    const state = { panoId: null, heading: 0, zoom: 0, rotate: true, zooming: true };

    function show(h) {
      state.heading = h;
      img.dataset.heading = String(h);
      img.src = "/pano/" + state.panoId + "/" + h + ".jpg";
      $(".compass__needle").style.transform = "rotate(" + -h + "deg)";
    }

    function rotate(step) {
      if (!state.panoId || !state.rotate || (locked && locked())) return;
      const i = HEADINGS.indexOf(state.heading);
      show(HEADINGS[(i + step + HEADINGS.length) % HEADINGS.length]);
    }

    function setZoom(i) {
      state.zoom = Math.max(0, Math.min(ZOOMS.length - 1, i));
      img.style.transform = "scale(" + ZOOMS[state.zoom] + ")";
      img.dataset.zoom = String(ZOOMS[state.zoom]);
    }

    compass.addEventListener("click", () => rotate(1));
    document.addEventListener("keydown", (event) => {
      if (event.target && ["INPUT", "SELECT", "TEXTAREA"].includes(event.target.tagName)) return;
      if (event.key === "ArrowRight") rotate(1);
      else if (event.key === "ArrowLeft") rotate(-1);
    });
    zoomIn.addEventListener("click", () => { if (state.zooming) setZoom(state.zoom + 1); });
    zoomOut.addEventListener("click", () => { if (state.zooming) setZoom(state.zoom - 1); });

    return {
      // show a round: {panoId, heading} with the game's {forbidRotating, forbidZooming}
      load(round, flags) {
        state.panoId = round.panoId;
        state.rotate = !flags.forbidRotating;
        state.zooming = !flags.forbidZooming;
        setDisabled(compass, flags.forbidRotating);
        setDisabled(zoomIn, flags.forbidZooming);
        setDisabled(zoomOut, flags.forbidZooming);
        setZoom(0);
        show(round.heading);
      },
      // no stale view while the next round loads
      clear() {
        state.panoId = null;
        img.removeAttribute("src");
        img.dataset.heading = "";
      },
      get panoId() { return state.panoId; },
    };
  }

  return { create, formatTime, setDisabled };
})();
