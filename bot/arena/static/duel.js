// Duel page: polls GET /api/duels/{id} (every 400 ms) and shows the lobby wait, the round (view,
// guess map, countdown once someone has guessed), both HP bars and the multiplier, each round's
// result, and the winner. Guesses: POST /api/duels/{id}/guess {lat, lng, roundNumber}. The
// server decides everything; the JSON never holds the place before the round has ended.
"use strict";

(() => {
  const gameId = document.body.dataset.token;
  const $ = (sel) => document.querySelector(sel);
  const guessButton = $("[data-qa=perform-guess]");
  const resultBox = $("[data-qa=round-result]");
  const finalBox = $("[data-qa=game-result]");
  const errorBox = $("#game-error");
  const timerEl = $("[data-qa=timer]");
  const map = GuessMap.create($("[data-qa=guess-map-canvas]"));
  const setDisabled = Panorama.setDisabled;
  const api = (suffix, method, body) =>
    ArenaClient.api("/api/duels/" + encodeURIComponent(gameId) + suffix, method, body);

  let duel = null;
  let busy = false;
  let loaded = 0; // round number shown in the view
  let resultShown = 0; // last round whose result overlay was shown
  let finalReady = false; // the duel is over; the final card follows the last result
  let deadline = null; // performance.now() at which the countdown ends
  const pano = Panorama.create(() => busy);

  // [mine, theirs] (a spectator sees team 0 as "you")
  function sides() {
    const seat = duel.you ? duel.you.seat : 0;
    return [duel.teams[seat], duel.teams[1 - seat]];
  }

  function km(meters) {
    if (meters === null || meters === undefined) return "no guess";
    const k = meters / 1000;
    return (k < 10 ? k.toFixed(2) : k.toFixed(1)) + " km";
  }

  function showHp() {
    const [mine, theirs] = sides();
    for (const [who, team] of [["you", mine], ["opponent", theirs]]) {
      $("[data-qa=hp-" + who + "]").textContent = team ? String(team.health) : "-";
      $("[data-qa=hp-fill-" + who + "]").style.width =
        team ? (100 * team.health / duel.initialHealth).toFixed(1) + "%" : "0%";
      $("[data-qa=nick-" + who + "]").textContent = team
        ? team.players[0].nick + (who === "you" && duel.you ? " (you)" : "") : "waiting...";
    }
  }

  function showResult(n) {
    const [mine, theirs] = sides();
    const a = mine.roundResults[n - 1];
    const b = theirs.roundResults[n - 1];
    $("[data-qa=result-round]").textContent = String(n);
    $("[data-qa=result-multiplier]").textContent = String(a.multiplier);
    $("[data-qa=result-nick-you]").textContent = mine.players[0].nick;
    $("[data-qa=result-nick-opponent]").textContent = theirs.players[0].nick;
    $("[data-qa=round-result-distance]").textContent = km(a.bestGuess && a.bestGuess.distance);
    $("[data-qa=opponent-result-distance]").textContent = km(b.bestGuess && b.bestGuess.distance);
    $("[data-qa=round-result-points]").textContent = String(a.score);
    $("[data-qa=opponent-result-points]").textContent = String(b.score);
    $("[data-qa=damage-taken]").textContent = String(b.damageDealt);
    $("[data-qa=damage-dealt]").textContent = String(a.damageDealt);
    $("[data-qa=result-hp-you]").textContent = String(a.healthAfter);
    $("[data-qa=result-hp-opponent]").textContent = String(b.healthAfter);
    const round = duel.rounds[n - 1];
    map.setEnabled(false);
    if (a.bestGuess) map.setMarker([a.bestGuess.lat, a.bestGuess.lng]);
    map.setOthers(b.bestGuess ? [[b.bestGuess.lat, b.bestGuess.lng]] : []);
    if (round.panorama.lat !== undefined) map.setTruth([round.panorama.lat, round.panorama.lng]);
    $("[data-qa=close-round-result]").textContent = duel.status === "Finished" ? "See the winner" : "Continue";
    pano.clear();
    $("[data-qa=duel-round]").hidden = true;
    resultBox.hidden = false;
  }

  function showFinal() {
    const [mine, theirs] = sides();
    const r = duel.result;
    let text = "Draw";
    if (!r.isDraw) {
      const mineWon = r.winningTeamId === mine.id;
      text = duel.you ? (mineWon ? "You win" : "You lose")
        : (mineWon ? mine.players[0].nick : theirs.players[0].nick) + " wins";
    }
    $("[data-qa=duel-winner]").textContent = text;
    $("[data-qa=final-hp-you]").textContent = String(mine.health);
    $("[data-qa=final-hp-opponent]").textContent = String(theirs.health);
    $("[data-qa=final-rounds]").textContent = String(duel.currentRoundNumber);
    resultBox.hidden = true;
    finalBox.hidden = false;
  }

  function loadRound(n) {
    loaded = n;
    resultBox.hidden = true;
    $("[data-qa=duel-round]").hidden = false;
    map.reset();
    setDisabled(guessButton, true);
    $("[data-qa=guess-status]").textContent = duel.you ? "" : "watching";
    map.setEnabled(Boolean(duel.you));
    pano.load(duel.rounds[n - 1].panorama, duel.movementOptions);
  }

  function render() {
    const waiting = duel.status === "Lobby";
    $("[data-qa=duel-waiting]").hidden = !waiting;
    // visibility, not display: the map's canvas keeps its size (GuessMap measures it once)
    $("[data-qa=guess-map]").style.visibility = waiting ? "hidden" : "visible";
    showHp();
    if (waiting) {
      const link = $("[data-qa=duel-link]");
      link.href = link.textContent = window.location.href;
      const canJoin = !duel.you && duel.teams.length < 2;
      $("[data-qa=join-duel-button]").hidden = !canJoin;
      $("[data-qa=duel-waiting-text]").hidden = canJoin;
      return;
    }
    const [mine, theirs] = sides();
    const ended = mine.roundResults.length;
    if (ended > resultShown) {
      resultShown = ended;
      showResult(ended);
    }
    if (duel.status === "Finished") {
      finalReady = true;
      deadline = null;
      if (resultBox.hidden) showFinal();
      return;
    }
    const n = duel.currentRoundNumber;
    const round = duel.rounds[n - 1];
    $("[data-qa=round-number]").textContent = String(n);
    $("[data-qa=duel-multiplier]").textContent = "x" + round.multiplier;
    const opensIn = duel.roundOpensInSeconds;
    const nextStatus = $("[data-qa=next-round-status]");
    nextStatus.hidden = opensIn <= 0;
    nextStatus.textContent = "Round " + n + " starts in " + Math.ceil(opensIn) + " s";
    $("[data-qa=next-round-in]").textContent = opensIn > 0 ? "Next round in " + Math.ceil(opensIn) + " s" : "";
    if (opensIn <= 0 && loaded < n) loadRound(n);
    deadline = duel.countdownSecondsLeft === null ? null : performance.now() + duel.countdownSecondsLeft * 1000;
    const theyGuessed = theirs.hasGuessedCurrentRound;
    $("[data-qa=opponent-status]").textContent = opensIn > 0 ? "" : theyGuessed ? "opponent has guessed" : "opponent is thinking";
    if (mine.hasGuessedCurrentRound) {
      setDisabled(guessButton, true);
      map.setEnabled(false);
      $("[data-qa=guess-status]").textContent = theyGuessed ? "" : "guessed: waiting for the opponent";
    }
  }

  async function refresh() {
    const { ok, data } = await api("", "GET");
    if (!ok) {
      ArenaClient.showError(errorBox, data.error || "could not load the duel");
      return;
    }
    errorBox.hidden = true;
    duel = data;
    render();
  }

  async function submit() {
    if (busy || !map.marker || !duel || !duel.you) return;
    busy = true;
    setDisabled(guessButton, true);
    map.setEnabled(false);
    const { ok, data } = await api("/guess", "POST", { lat: map.marker[0], lng: map.marker[1], roundNumber: loaded });
    busy = false;
    if (!ok) {
      if (data.code !== "round_over") {
        ArenaClient.showError(errorBox, data.error || "the guess was not accepted");
        map.setEnabled(true);
        setDisabled(guessButton, false);
      }
      await refresh();
      return;
    }
    duel = data;
    render();
  }

  async function join() {
    const { ok, data } = await api("/join", "POST", {});
    if (!ok) ArenaClient.showError(errorBox, data.error || "could not join");
    await refresh();
  }

  async function newDuel() {
    const o = duel.options;
    const { ok, data } = await ArenaClient.api("/api/duels", "POST", {
      ...o.movementOptions, roundTime: o.roundTime, initialHealth: o.initialHealth,
      maxRounds: o.maxNumberOfRounds, roundCountdownDelay: o.roundCountdownDelay,
    });
    if (!ok) {
      ArenaClient.showError(errorBox, data.error || "could not create a duel");
      return;
    }
    window.location.assign("/duels/" + encodeURIComponent(data.gameId));
  }

  map.onChange = () => { if (!busy && duel && duel.you) setDisabled(guessButton, false); };
  guessButton.addEventListener("click", submit);
  $("[data-qa=join-duel-button]").addEventListener("click", join);
  $("[data-qa=close-round-result]").addEventListener("click", () => {
    resultBox.hidden = true;
    if (finalReady) showFinal();
  });
  $("[data-qa=play-again-button]").addEventListener("click", newDuel);
  setInterval(() => {
    timerEl.textContent = deadline === null ? "--:--" : Panorama.formatTime((deadline - performance.now()) / 1000);
  }, 200);
  refresh();
  setInterval(refresh, 400);
})();
