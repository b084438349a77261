// Guess map: a Web Mercator world drawn on a canvas from local country outlines (no tiles).
// The canvas carries data-zoom (world width = 256 * 2**zoom CSS px), data-center-lat and
// data-center-lng; CSS pixel (x, y) from the canvas's top-left <-> lat/lng degrees.
"use strict";

const GuessMap = (() => {
  const MAX_LAT = 85.0511287798066;

  function view(canvas) {
    const rect = canvas.getBoundingClientRect();
    return {
      zoom: Number(canvas.dataset.zoom),
      lat: Number(canvas.dataset.centerLat),
      lng: Number(canvas.dataset.centerLng),
      width: rect.width,
      height: rect.height,
    };
  }

  function worldPx(lat, lng, zoom) {
    const size = 256 * Math.pow(2, zoom);
    const clamped = Math.max(-MAX_LAT, Math.min(MAX_LAT, lat));
    const s = Math.sin((clamped * Math.PI) / 180);
    const x = ((lng + 180) / 360) * size;
    const y = (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * size;
    return [x, y, size];
  }

  // lat/lng -> CSS px from the canvas's top-left (longitude in the copy nearest the centre).
  function project(v, lat, lng) {
    const [cx, cy, size] = worldPx(v.lat, v.lng, v.zoom);
    const [x, y] = worldPx(lat, lng, v.zoom);
    let dx = (((x - cx + size / 2) % size) + size) % size - size / 2;
    return [dx + v.width / 2, y - cy + v.height / 2];
  }

  // CSS px from the canvas's top-left -> [lat, lng] (lng wrapped to [-180, 180)).
  function unproject(v, px, py) {
    const [cx, cy, size] = worldPx(v.lat, v.lng, v.zoom);
    const x = px - v.width / 2 + cx;
    const y = Math.max(0, Math.min(size, py - v.height / 2 + cy));
    let lng = (x / size) * 360 - 180;
    lng = ((((lng + 180) % 360) + 360) % 360) - 180;
    const merc = Math.PI * (1 - (2 * y) / size);
    const lat = (2 * Math.atan(Math.exp(merc)) - Math.PI / 2) * (180 / Math.PI);
    return [Math.max(-MAX_LAT, Math.min(MAX_LAT, lat)), lng];
  }

  function create(canvas) {
    const v = view(canvas);
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(v.width * dpr);
    canvas.height = Math.round(v.height * dpr);
    const base = document.createElement("canvas");
    base.width = canvas.width;
    base.height = canvas.height;
    const state = { marker: null, truth: null, others: [], onChange: null, enabled: true };

    function drawBase(rings) {
      const ctx = base.getContext("2d");
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.fillStyle = "#9cc3e0";
      ctx.fillRect(0, 0, v.width, v.height);
      const size = 256 * Math.pow(2, v.zoom);
      ctx.fillStyle = "#f1ecd9";
      ctx.strokeStyle = "#8a8270";
      ctx.lineWidth = 0.6;
      for (const flat of rings) {
        for (const shift of [-size, 0, size]) {
          ctx.beginPath();
          let prevLng = null;
          let unwrap = 0;
          for (let i = 0; i < flat.length; i += 2) {
            let lng = flat[i];
            if (prevLng !== null && Math.abs(lng - prevLng) > 180) unwrap += lng < prevLng ? 360 : -360;
            prevLng = lng;
            const [cx, cy] = worldPx(v.lat, v.lng, v.zoom);
            const [x, y] = worldPx(flat[i + 1], lng + unwrap, v.zoom);
            const px = x - cx + v.width / 2 + shift;
            const py = y - cy + v.height / 2;
            if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
          }
          ctx.closePath();
          ctx.fill();
          ctx.stroke();
        }
      }
      canvas.dataset.ready = "true";
      redraw();
    }

    function dot(ctx, lat, lng, color) {
      const [x, y] = project(v, lat, lng);
      ctx.beginPath();
      ctx.arc(x, y, 6, 0, 2 * Math.PI);
      ctx.fillStyle = color;
      ctx.fill();
      ctx.lineWidth = 2;
      ctx.strokeStyle = "#fff";
      ctx.stroke();
      return [x, y];
    }

    function redraw() {
      const ctx = canvas.getContext("2d");
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.drawImage(base, 0, 0);
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      let a = null;
      let b = null;
      for (const o of state.others) dot(ctx, o[0], o[1], "#1565c0");
      if (state.marker) a = dot(ctx, state.marker[0], state.marker[1], "#d32f2f");
      if (state.truth) b = dot(ctx, state.truth[0], state.truth[1], "#2e7d32");
      if (a && b) {
        ctx.setLineDash([6, 4]);
        ctx.strokeStyle = "#222";
        ctx.lineWidth = 1.5;
        ctx.beginPath();
        ctx.moveTo(a[0], a[1]);
        ctx.lineTo(b[0], b[1]);
        ctx.stroke();
        ctx.setLineDash([]);
      }
      canvas.dataset.markerLat = state.marker ? state.marker[0].toFixed(6) : "";
      canvas.dataset.markerLng = state.marker ? state.marker[1].toFixed(6) : "";
    }

    canvas.addEventListener("click", (event) => {
      if (!state.enabled) return;
      const rect = canvas.getBoundingClientRect();
      state.marker = unproject(v, event.clientX - rect.left, event.clientY - rect.top);
      redraw();
      if (state.onChange) state.onChange(state.marker);
    });

    const base2d = base.getContext("2d");
    base2d.fillStyle = "#9cc3e0";
    base2d.fillRect(0, 0, base.width, base.height);
    redraw();
    fetch("/static/world.json").then((r) => r.json()).then((data) => drawBase(data.rings));

    return {
      get marker() { return state.marker; },
      set onChange(fn) { state.onChange = fn; },
      setEnabled(on) { state.enabled = on; },
      setTruth(latlng) { state.truth = latlng; redraw(); },
      // other players' guesses (blue dots), e.g. the opponent's in a duel
      setOthers(points) { state.others = points; redraw(); },
      setMarker(latlng) { state.marker = latlng; redraw(); },
      reset() { state.marker = null; state.truth = null; state.others = []; state.enabled = true; redraw(); },
    };
  }

  return { create, project, unproject, view };
})();
