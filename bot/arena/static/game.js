// Game page: one round at a time from /api/v3/games/{token}; the server scores every guess.
"use strict";

(() => {
  const HEADINGS = [0, 90, 180, 270];
  const ZOOMS = [1, 1.5, 2, 3];
  const token = document.body.dataset.token;
  const $ = (sel) => document.querySelector(sel);
  const img = $("[data-qa=panorama] img");
  const compass = $("[data-qa=compass]");
  const zoomIn = $("[data-qa=pano-zoom-in]");
  const zoomOut = $("[data-qa=pano-zoom-out]");
  const guessButton = $("[data-qa=perform-guess]");
  const timerEl = $("[data-qa=timer]");
  const resultBox = $("[data-qa=round-result]");
  const finalBox = $("[data-qa=game-result]");
  const errorBox = $("#game-error");
  const map = GuessMap.create($("[data-qa=guess-map-canvas]"));

  let game = null;
  let heading = 0;
  let zoomIndex = 0;
  let timerHandle = null;
  let busy = false;

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  // fetch the game API; network failures of a GET are retried (3 tries), a POST is never resent.
  async function api(method, body) {
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await fetch("/api/v3/games/" + encodeURIComponent(token), {
          method,
          headers: body ? { "Content-Type": "application/json" } : {},
          body: body ? JSON.stringify(body) : undefined,
          cache: "no-store",
        });
        const data = await response.json();
        return { ok: response.ok, status: response.status, data };
      } catch (err) {
        if (method !== "GET" || attempt >= 3) {
          return { ok: false, status: 0, data: { error: "network error: " + err, code: "network" } };
        }
        await new Promise((resolve) => setTimeout(resolve, 300 * attempt));
      }
    }
  }

  function setDisabled(el, disabled) {
    el.disabled = disabled;
    el.dataset.disabled = disabled ? "true" : "false";
  }

  function currentRound() {
    return game.rounds[game.round - 1];
  }

  function showHeading(h) {
    heading = h;
    img.dataset.heading = String(h);
    img.src = "/pano/" + currentRound().panoId + "/" + h + ".jpg";
    $(".compass__needle").style.transform = "rotate(" + -h + "deg)";
  }

  function rotate(step) {
    if (!game || game.forbidRotating || busy || !resultBox.hidden) return;
    const i = HEADINGS.indexOf(heading);
    showHeading(HEADINGS[(i + step + HEADINGS.length) % HEADINGS.length]);
  }

  function setZoom(i) {
    zoomIndex = Math.max(0, Math.min(ZOOMS.length - 1, i));
    img.style.transform = "scale(" + ZOOMS[zoomIndex] + ")";
    img.dataset.zoom = String(ZOOMS[zoomIndex]);
  }

  function formatTime(seconds) {
    const s = Math.max(0, Math.ceil(seconds));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function startTimer() {
    clearInterval(timerHandle);
    if (!game.timeLimit) {
      timerEl.textContent = "--:--";
      return;
    }
    const deadline = performance.now() + game.timeLimit * 1000;
    const tick = () => {
      const left = (deadline - performance.now()) / 1000;
      timerEl.textContent = formatTime(left);
      if (left <= 0) {
        clearInterval(timerHandle);
        submit(true);
      }
    };
    tick();
    timerHandle = setInterval(tick, 250);
  }

  function totalScore() {
    return Number(game.player.totalScore.amount);
  }

  function renderRound() {
    $("[data-qa=round-number]").textContent = game.round + " / " + game.roundCount;
    $("[data-qa=score]").textContent = String(totalScore());
    map.reset();
    setDisabled(guessButton, true);
    setDisabled(compass, game.forbidRotating);
    setDisabled(zoomIn, game.forbidZooming);
    setDisabled(zoomOut, game.forbidZooming);
    setZoom(0);
    showHeading(currentRound().heading);
    startTimer();
  }

  async function load() {
    errorBox.hidden = true;
    const { ok, data } = await api("GET");
    if (!ok) {
      showError(data.error || "could not load the game");
      return;
    }
    game = data;
    if (game.state === "finished") {
      showFinal();
      return;
    }
    renderRound();
  }

  async function submit(timedOut) {
    if (busy || !game || game.state === "finished") return;
    busy = true;
    clearInterval(timerHandle);
    setDisabled(guessButton, true);
    map.setEnabled(false);
    const guessed = game.round;
    const marker = map.marker;
    const body = { token, timedOut: Boolean(timedOut), stepsCount: 0, roundNumber: guessed };
    if (marker) {
      body.lat = marker[0];
      body.lng = marker[1];
    }
    let { ok, data } = await api("POST", body);
    if (!ok && ["round_timed_out", "wrong_round", "network"].includes(data.code)) {
      // the server may have recorded this round anyway: read the game back
      const again = await api("GET");
      if (again.ok && again.data.player.guesses.length >= guessed) ({ ok, data } = again);
    }
    if (!ok) {
      showError(data.error || "the guess was not accepted");
      busy = false;
      map.setEnabled(true);
      if (map.marker) setDisabled(guessButton, false);
      return;
    }
    game = data;
    const guess = game.player.guesses[guessed - 1];
    const truthRound = game.rounds[guessed - 1];
    if (truthRound && truthRound.lat !== undefined) map.setTruth([truthRound.lat, truthRound.lng]);
    const km = guess.distanceInMeters === null ? null : guess.distanceInMeters / 1000;
    $("[data-qa=round-result-distance]").textContent =
      km === null ? "no guess (timed out)" : (km < 10 ? km.toFixed(2) : km.toFixed(1)) + " km";
    $("[data-qa=round-result-points]").textContent = String(guess.roundScoreInPoints);
    $("[data-qa=score]").textContent = String(totalScore());
    resultBox.hidden = false;
    busy = false;
  }

  function showFinal() {
    resultBox.hidden = true;
    $("[data-qa=final-score]").textContent = String(totalScore());
    $("[data-qa=score]").textContent = String(totalScore());
    finalBox.hidden = false;
  }

  async function nextRound() {
    if (game.state === "finished") {
      showFinal();
      return;
    }
    resultBox.hidden = true;
    img.removeAttribute("src"); // no stale view while the next round loads
    img.dataset.heading = "";
    await load();
  }

  async function playAgain() {
    const response = await fetch("/api/v3/games", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        map: game.map, forbidMoving: game.forbidMoving, forbidRotating: game.forbidRotating,
        forbidZooming: game.forbidZooming, timeLimit: game.timeLimit, roundCount: game.roundCount,
      }),
    });
    const data = await response.json();
    if (!response.ok) {
      showError(data.error || "could not start a new game");
      return;
    }
    window.location.assign("/game/" + encodeURIComponent(data.token));
  }

  map.onChange = () => { if (!busy) setDisabled(guessButton, false); };
  compass.addEventListener("click", () => rotate(1));
  document.addEventListener("keydown", (event) => {
    if (event.key === "ArrowRight") rotate(1);
    else if (event.key === "ArrowLeft") rotate(-1);
  });
  zoomIn.addEventListener("click", () => { if (!game.forbidZooming) setZoom(zoomIndex + 1); });
  zoomOut.addEventListener("click", () => { if (!game.forbidZooming) setZoom(zoomIndex - 1); });
  guessButton.addEventListener("click", () => { if (map.marker) submit(false); });
  $("[data-qa=close-round-result]").addEventListener("click", nextRound);
  $("[data-qa=play-again-button]").addEventListener("click", playAgain);
  load();
})();
