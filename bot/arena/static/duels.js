// Duel lobby: list the duels waiting for a second player (GET /api/duels, every second) and join
// one (POST /api/duels/{id}/join, then its page).
"use strict";

(() => {
  const list = document.querySelector("[data-qa=open-duels]");
  const none = document.querySelector("[data-qa=no-open-duels]");
  const errorBox = document.getElementById("lobby-error");

  async function join(id) {
    const { ok, data } = await ArenaClient.api("/api/duels/" + encodeURIComponent(id) + "/join", "POST", {});
    if (!ok && data.code !== "already_in_game") {
      ArenaClient.showError(errorBox, data.error || "could not join");
      return;
    }
    window.location.assign("/duels/" + encodeURIComponent(id));
  }

  async function refresh() {
    const { ok, data } = await ArenaClient.api("/api/duels", "GET");
    if (!ok) return;
    const ids = data.map((d) => d.gameId).join(",");
    if (list.dataset.ids === ids) return;
    list.dataset.ids = ids;
    list.replaceChildren(...data.map((d) => {
      const li = document.createElement("li");
      li.dataset.qa = "open-duel";
      li.dataset.gameId = d.gameId;
      const o = d.options;
      const mode = o.movementOptions.forbidRotating ? "NMPZ" : o.movementOptions.forbidMoving ? "NM" : "Moving";
      li.textContent = d.players.map((p) => p.nick).join(", ") + " · " + mode + " · " + o.initialHealth +
        " HP · " + o.roundTime + " s countdown ";
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.qa = "join-duel-button";
      button.dataset.gameId = d.gameId;
      button.textContent = "Join";
      button.addEventListener("click", () => join(d.gameId));
      li.appendChild(button);
      return li;
    }));
    none.hidden = data.length > 0;
  }

  refresh();
  setInterval(refresh, 1000);
})();
