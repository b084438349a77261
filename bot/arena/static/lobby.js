// Lobby: read the mode / time limit / rounds, POST /api/v3/games, go to /game/{token}.
"use strict";

const MODE_FLAGS = {
  moving: { forbidMoving: false, forbidRotating: false, forbidZooming: false },
  nm: { forbidMoving: true, forbidRotating: false, forbidZooming: false },
  nmpz: { forbidMoving: true, forbidRotating: true, forbidZooming: true },
};

async function startGame(event) {
  event.preventDefault();
  const form = document.getElementById("lobby-form");
  const errorBox = document.getElementById("lobby-error");
  const mode = form.querySelector("input[name=mode]:checked").value;
  const body = {
    map: document.body.dataset.map,
    ...MODE_FLAGS[mode],
    timeLimit: Number(form.querySelector("input[name=time-limit]").value || 0),
    roundCount: Number(form.querySelector("input[name=rounds]").value || 5),
  };
  const response = await fetch("/api/v3/games", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const game = await response.json();
  if (!response.ok) {
    errorBox.textContent = game.error || "could not start the game";
    errorBox.hidden = false;
    return;
  }
  window.location.assign("/game/" + encodeURIComponent(game.token));
}

document.getElementById("lobby-form").addEventListener("submit", startGame);
