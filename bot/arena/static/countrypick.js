// Country picker of the country-streak page: a <select data-qa=country-select> filled from
// /api/countries, and clicks on the guess map resolved to a country (/api/countries/at), shown in
// [data-qa=selected-country]. Nothing here knows the round's answer.
"use strict";

const CountryPick = (() => {
  function create(map, onChange) {
    const select = document.querySelector("[data-qa=country-select]");
    const label = document.querySelector("[data-qa=selected-country]");
    const names = {};
    let seq = 0;

    function show() {
      label.textContent = select.value ? names[select.value] : "none yet";
      label.dataset.code = select.value;
      onChange(select.value);
    }

    ArenaClient.api("/api/countries", "GET").then(({ ok, data }) => {
      if (!ok) return;
      for (const c of data) {
        names[c.code] = c.name;
        const option = document.createElement("option");
        option.value = c.code;
        option.textContent = c.name;
        select.appendChild(option);
      }
      select.dataset.ready = "true";
    });
    select.addEventListener("change", show);
    map.onChange = async (latlng) => {
      const mine = ++seq;
      const url = "/api/countries/at?lat=" + latlng[0].toFixed(5) + "&lng=" + latlng[1].toFixed(5);
      const { ok, data } = await ArenaClient.api(url, "GET");
      if (mine !== seq) return; // a later click won
      select.value = ok ? data.code : "";
      show();
      if (!ok) label.textContent = "no country there (sea)";
    };

    return {
      get code() { return select.value; },
      name(code) { return names[code] || (code || "").toUpperCase(); },
      reset() { select.disabled = false; select.value = ""; show(); },
      setEnabled(on) { select.disabled = !on; },
    };
  }

  return { create };
})();
