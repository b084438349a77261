// Lobbies (standard game, country streak, duel): read the mode radios and every input with a
// data-field (a number field of the create body), POST the form's data-endpoint, then go to the
// page of the new game: data-next + the reply's data-id field (token / gameId).
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
  const body = { map: document.body.dataset.map, ...MODE_FLAGS[mode] };
  for (const input of form.querySelectorAll("input[data-field]")) {
    body[input.dataset.field] = Number(input.value || input.defaultValue || 0);
  }
  if (form.dataset.streakType) body.streakType = form.dataset.streakType;
  const { ok, data } = await ArenaClient.api(form.dataset.endpoint || "/api/v3/games", "POST", body);
  if (!ok) {
    ArenaClient.showError(errorBox, data.error || "could not start the game");
    return;
  }
  const id = data[form.dataset.id || "token"];
  window.location.assign((form.dataset.next || "/game/") + encodeURIComponent(id));
}

document.getElementById("lobby-form").addEventListener("submit", startGame);
