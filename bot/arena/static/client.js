// Shared by the arena's pages: JSON API calls and the round timer.
"use strict";

const ArenaClient = (() => {
  // fetch a JSON API; network failures of a GET are retried (3 tries), a POST is never resent.
  // Resolves to {ok, status, data}; data.error / data.code on failure.
  async function api(url, method, body) {
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await fetch(url, {
          method,
          headers: body ? { "Content-Type": "application/json" } : {},
          body: body ? JSON.stringify(body) : undefined,
          cache: "no-store",
          credentials: "same-origin",
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

  // Show a countdown of `seconds` in `el` ("m:ss"; "--:--" when seconds is 0 or null) and call
  // onExpire once when it reaches 0. Returns a function that stops it.
  function countdown(el, seconds, onExpire) {
    if (!seconds) {
      el.textContent = "--:--";
      return () => {};
    }
    const deadline = performance.now() + seconds * 1000;
    let handle = null;
    const tick = () => {
      const left = (deadline - performance.now()) / 1000;
      el.textContent = Panorama.formatTime(left);
      if (left <= 0) {
        clearInterval(handle);
        if (onExpire) onExpire();
      }
    };
    handle = setInterval(tick, 250);
    tick();
    return () => clearInterval(handle);
  }

  function showError(box, message) {
    box.textContent = message;
    box.hidden = false;
  }

  return { api, countdown, showError };
})();
