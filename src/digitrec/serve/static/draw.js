// The drawing page: strokes on a canvas, sent as a PNG to /predict while you draw.
// Plain JavaScript, no dependencies. The server normalises the picture exactly as
// `digitrec predict` does (digitrec.predict.prepare -> digitrec.transforms.imaging.normalize).
"use strict";

(() => {
  const pad = document.getElementById("pad");
  const ctx = pad.getContext("2d");
  const result = document.getElementById("result");
  const digitBox = document.getElementById("digit");
  const confidence = document.getElementById("confidence");
  const bars = document.getElementById("bars");
  const statusLine = document.getElementById("status");
  const seen = document.getElementById("seen");
  const modelInfo = document.getElementById("model-info");
  const modelNote = document.getElementById("model-note");

  const PEN = pad.width * 0.07; // stroke width: about what the training digits have
  let version = 0; // bumps with every change of the drawing
  let generation = 0; // bumps on clear: answers about an older drawing are dropped
  let inFlight = false;
  let sentVersion = 0;
  let hasInk = false;
  let drawing = null; // the active pointer's id and last point
  let maxValue = 16;

  // ---------------------------------------------------------------- result display
  const rows = [];
  function buildBars(classes) {
    bars.textContent = "";
    rows.length = 0;
    for (const c of classes) {
      const li = document.createElement("li");
      li.dataset.digit = String(c);
      const label = document.createElement("span");
      label.className = "label";
      label.textContent = String(c);
      const track = document.createElement("span");
      track.className = "track";
      const fill = document.createElement("span");
      fill.className = "fill";
      fill.style.display = "block";
      track.appendChild(fill);
      const value = document.createElement("span");
      value.className = "value";
      value.textContent = "–";
      li.append(label, track, value);
      bars.appendChild(li);
      rows.push({ c: String(c), li, fill, value });
    }
  }

  function showEmpty(message) {
    result.dataset.state = "empty";
    digitBox.textContent = "?";
    digitBox.dataset.digit = "";
    confidence.textContent = message || "Draw a digit to start";
    for (const r of rows) {
      r.fill.style.width = "0";
      r.value.textContent = "–";
      r.li.classList.remove("top");
    }
    seen.getContext("2d").clearRect(0, 0, seen.width, seen.height);
  }

  function showPrediction(p) {
    result.dataset.state = "ready";
    digitBox.textContent = String(p.digit);
    digitBox.dataset.digit = String(p.digit);
    confidence.textContent =
      p.probability == null
        ? "(this model gives no probabilities)"
        : `probability ${(100 * p.probability).toFixed(1)} %`;
    const probs = p.probabilities || {};
    if (rows.length === 0) buildBars(Object.keys(probs));
    for (const r of rows) {
      const v = probs[r.c];
      r.fill.style.width = v == null ? "0" : `${(100 * v).toFixed(1)}%`;
      r.value.textContent = v == null ? "–" : `${(100 * v).toFixed(1)} %`;
      r.li.classList.toggle("top", r.c === String(p.digit));
    }
    if (p.input) showInput(p.input);
  }

  function showInput(image) {
    const h = image.length;
    const w = image[0].length;
    if (seen.width !== w || seen.height !== h) {
      seen.width = w;
      seen.height = h;
    }
    const sctx = seen.getContext("2d");
    const data = sctx.createImageData(w, h);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const g = Math.round((255 * image[y][x]) / maxValue);
        const i = 4 * (y * w + x);
        data.data[i] = data.data[i + 1] = data.data[i + 2] = g;
        data.data[i + 3] = 255;
      }
    }
    sctx.putImageData(data, 0, 0);
  }

  // ------------------------------------------------------------------- prediction
  function toBlob() {
    return new Promise((resolve) => pad.toBlob(resolve, "image/png"));
  }

  async function send() {
    if (inFlight || !hasInk || sentVersion === version) return;
    inFlight = true;
    const myVersion = version;
    const myGeneration = generation;
    sentVersion = myVersion;
    try {
      const form = new FormData();
      form.append("file", await toBlob(), "drawing.png");
      const response = await fetch("/predict?include_input=true", { method: "POST", body: form });
      const body = await response.json();
      if (myGeneration !== generation) return; // cleared meanwhile
      if (response.ok) {
        statusLine.textContent = "";
        showPrediction(body.predictions[0]);
      } else if (body.error === "no_digit") {
        showEmpty("Keep drawing: no digit found yet");
      } else {
        statusLine.textContent = `Error ${response.status}: ${body.detail || body.error}`;
      }
      result.dataset.version = String(myVersion);
    } catch (err) {
      if (myGeneration === generation) {
        statusLine.textContent = `Cannot reach the server (${err.message})`;
        result.dataset.version = String(myVersion);
      }
    } finally {
      inFlight = false;
      if (version !== sentVersion) send();
    }
  }

  // ---------------------------------------------------------------------- drawing
  function clearPad() {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, pad.width, pad.height);
    hasInk = false;
    drawing = null;
    generation += 1;
    version += 1;
    sentVersion = version;
    pad.dataset.version = String(version);
    result.dataset.version = String(version);
    statusLine.textContent = "";
    showEmpty();
  }

  function point(e) {
    const scaleX = pad.width / pad.clientWidth;
    const scaleY = pad.height / pad.clientHeight;
    const rect = pad.getBoundingClientRect();
    return {
      x: (e.clientX - rect.left - pad.clientLeft) * scaleX,
      y: (e.clientY - rect.top - pad.clientTop) * scaleY,
    };
  }

  function changed() {
    hasInk = true;
    version += 1;
    pad.dataset.version = String(version);
    send();
  }

  pad.addEventListener("pointerdown", (e) => {
    if (e.button !== 0 || drawing) return;
    e.preventDefault();
    pad.setPointerCapture(e.pointerId);
    const p = point(e);
    drawing = { id: e.pointerId, last: p };
    ctx.fillStyle = "#000";
    ctx.beginPath();
    ctx.arc(p.x, p.y, PEN / 2, 0, 2 * Math.PI);
    ctx.fill();
    changed();
  });

  pad.addEventListener("pointermove", (e) => {
    if (!drawing || e.pointerId !== drawing.id) return;
    e.preventDefault();
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
    ctx.strokeStyle = "#000";
    ctx.lineWidth = PEN;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(drawing.last.x, drawing.last.y);
    for (const ev of events.length ? events : [e]) {
      const p = point(ev);
      ctx.lineTo(p.x, p.y);
      drawing.last = p;
    }
    ctx.stroke();
    changed();
  });

  function endStroke(e) {
    if (!drawing || e.pointerId !== drawing.id) return;
    drawing = null;
    send();
  }
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);

  document.getElementById("clear").addEventListener("click", clearPad);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" || e.key === "Delete") clearPad();
  });

  // ------------------------------------------------------------------- model info
  async function loadModelInfo() {
    try {
      const info = await (await fetch("/model")).json();
      const spec = info.model.image_spec;
      maxValue = spec.max_value;
      buildBars(info.model.classes || [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      showEmpty();
      const parts = [];
      const dataset = info.dataset && info.dataset.dataset;
      const shape = `${spec.shape.join("×")} images`;
      parts.push(dataset ? `Model trained on ${dataset} (${shape})` : `Model for ${shape}`);
      const training = info.training || {};
      if (training.advice) {
        modelNote.textContent = `${training.trained_on} ${training.advice}`;
        modelNote.hidden = false;
      }
      if (info.metrics && info.metrics.accuracy != null) {
        parts.push(`test accuracy ${(100 * info.metrics.accuracy).toFixed(2)} %`);
      }
      if (info.model.sha256) parts.push(`sha256 ${info.model.sha256.slice(0, 12)}…`);
      const code = info.versions && info.versions.code;
      if (code && code.commit) parts.push(`commit ${code.commit.slice(0, 7)}`);
      modelInfo.textContent = parts.join(" · ");
    } catch (err) {
      modelInfo.textContent = `Cannot read /model (${err.message})`;
    }
  }

  clearPad();
  buildBars([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  showEmpty();
  loadModelInfo().then(() => {
    document.body.dataset.ready = "true";
  });
})();
