// Game page of standard games and country streaks: one round at a time from
// /api/v3/games/{token}; the server scores every guess. <body data-mode="streak"> (streak.html)
// picks a country (CountryPick) instead of a point.
"use strict";

(() => {
  const token = document.body.dataset.token;
  const streak = document.body.dataset.mode === "streak";
  const $ = (sel) => document.querySelector(sel);
  const guessButton = $("[data-qa=perform-guess]");
  const timerEl = $("[data-qa=timer]");
  const resultBox = $("[data-qa=round-result]");
  const finalBox = $("[data-qa=game-result]");
  const errorBox = $("#game-error");
  const map = GuessMap.create($("[data-qa=guess-map-canvas]"));

  let game = null;
  let stopTimer = () => {};
  let busy = false;
  const pano = Panorama.create(() => busy || !resultBox.hidden);
  const setDisabled = Panorama.setDisabled;
  const showError = (message) => ArenaClient.showError(errorBox, message);
  const api = (method, body) => ArenaClient.api("/api/v3/games/" + encodeURIComponent(token), method, body);
  const picker = streak ? CountryPick.create(map, () => { if (!busy) setDisabled(guessButton, !ready()); }) : null;

  // what differs between a point guess and a country pick
  function ready() {
    return streak ? Boolean(picker.code) : Boolean(map.marker);
  }

  function addPick(body) {
    if (streak) {
      if (picker.code) body.streakLocationCode = picker.code;
    } else if (map.marker) {
      body.lat = map.marker[0];
      body.lng = map.marker[1];
    }
  }

  // the running total (score, or the streak); the round counter changes only with the next round
  function showScore() {
    if (streak) $("[data-qa=streak]").textContent = String(game.player.totalStreak);
    else $("[data-qa=score]").textContent = String(totalScore());
  }

  function showStatus() {
    $("[data-qa=round-number]").textContent = streak ? String(game.round) : game.round + " / " + game.roundCount;
    showScore();
  }

  function showResult(guess, truthRound) {
    if (streak) {
      $("[data-qa=streak-verdict]").textContent = guess.isCorrect ? "Right!" : "Wrong";
      const answer = $("[data-qa=streak-answer]");
      answer.textContent = picker.name(truthRound.streakLocationCode);
      answer.dataset.code = truthRound.streakLocationCode || "";
      const pick = $("[data-qa=streak-pick]");
      pick.textContent = guess.streakLocationCode ? picker.name(guess.streakLocationCode) : "no pick (timed out)";
      pick.dataset.code = guess.streakLocationCode || "";
      $("[data-qa=close-round-result]").textContent = guess.isCorrect ? "Next place" : "See the final streak";
    } else {
      const km = guess.distanceInMeters === null ? null : guess.distanceInMeters / 1000;
      $("[data-qa=round-result-distance]").textContent =
        km === null ? "no guess (timed out)" : (km < 10 ? km.toFixed(2) : km.toFixed(1)) + " km";
      $("[data-qa=round-result-points]").textContent = String(guess.roundScoreInPoints);
    }
    showScore();
  }

  function totalScore() {
    return Number(game.player.totalScore.amount);
  }

  function startTimer() {
    stopTimer();
    stopTimer = ArenaClient.countdown(timerEl, game.timeLimit, () => submit(true));
  }

  function renderRound() {
    showStatus();
    map.reset();
    if (picker) picker.reset();
    setDisabled(guessButton, true);
    pano.load(game.rounds[game.round - 1], game);
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
    stopTimer();
    setDisabled(guessButton, true);
    map.setEnabled(false);
    if (picker) picker.setEnabled(false);
    const guessed = game.round;
    const body = { token, timedOut: Boolean(timedOut), stepsCount: 0, roundNumber: guessed };
    addPick(body);
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
      if (picker) picker.setEnabled(true);
      setDisabled(guessButton, !ready());
      return;
    }
    game = data;
    const truthRound = game.rounds[guessed - 1];
    if (truthRound && truthRound.lat !== undefined) map.setTruth([truthRound.lat, truthRound.lng]);
    showResult(game.player.guesses[guessed - 1], truthRound);
    resultBox.hidden = false;
    busy = false;
  }

  function showFinal() {
    resultBox.hidden = true;
    if (streak) {
      $("[data-qa=final-streak]").textContent = String(game.player.totalStreak);
    } else {
      $("[data-qa=final-score]").textContent = String(totalScore());
    }
    showScore();
    finalBox.hidden = false;
  }

  async function nextRound() {
    if (game.state === "finished") {
      showFinal();
      return;
    }
    resultBox.hidden = true;
    pano.clear();
    await load();
  }

  async function playAgain() {
    const flags = { map: game.map, forbidMoving: game.forbidMoving, forbidRotating: game.forbidRotating,
                    forbidZooming: game.forbidZooming, timeLimit: game.timeLimit };
    const { ok, data } = streak
      ? await ArenaClient.api("/api/v3/games/streak", "POST", { ...flags, streakType: "CountryStreak" })
      : await ArenaClient.api("/api/v3/games", "POST", { ...flags, roundCount: game.roundCount });
    if (!ok) {
      showError(data.error || "could not start a new game");
      return;
    }
    window.location.assign("/game/" + encodeURIComponent(data.token));
  }

  if (!streak) map.onChange = () => { if (!busy) setDisabled(guessButton, false); };
  guessButton.addEventListener("click", () => { if (ready()) submit(false); });
  $("[data-qa=close-round-result]").addEventListener("click", nextRound);
  $("[data-qa=play-again-button]").addEventListener("click", playAgain);
  load();
})();
