// digits: the draw-a-digit page. Plain JavaScript, no build step, no libraries.
//
// Strokes are kept as lists of points in the pad's own units (0..1 of its height), so a
// resize or a mode switch redraws them exactly, and Undo just drops the last list. For the
// model the strokes are rendered again, white on black like MNIST, into an offscreen canvas
// and sent as a PNG to the JSON API; while drawing, at most one request is in flight and
// the newest drawing is always the one that gets answered last.

"use strict";

(() => {
  const INK_WIDTH = 0.085; // stroke width as a share of the pad's height: about MNIST's pen
  const EXPORT_HEIGHT = 280; // pixels of the PNG sent to the server (10× MNIST)
  const LIVE_MS = 180; // while the pen moves, ask at most this often
  const DONE_MS = 40; // after the pen lifts, ask this soon
  let maxUploadBytes = 10 * 1024 * 1024; // replaced by /healthz's figure

  const $ = (id) => document.getElementById(id);
  const pad = $("pad");
  const canvas = $("canvas");
  const overlay = $("overlay");
  const ctx = canvas.getContext("2d");
  const octx = overlay.getContext("2d");
  const result = $("result");
  const chart = $("chart");
  const fileInput = $("file");

  let mode = "digit";
  let strokes = []; // [{points: [[x, y], ...]}] with x in 0..aspect, y in 0..1
  let current = null; // the stroke being drawn, and its pointer
  let upload = null; // {file, bitmap} when the pad shows an uploaded image
  let version = 0; // bumped on every change of what is on the pad
  let shownVersion = 0; // the version whose answer is on screen
  let timer = null;
  let timerDue = 0;
  let inflight = false;
  let lastAnswer = null; // the number reading on screen, for its boxes

  // Width / height of the pad as laid out now: 1 for a digit, wider for a number (CSS decides).
  const aspect = () => {
    const rect = pad.getBoundingClientRect();
    return rect.height > 0 ? rect.width / rect.height : 1;
  };

  // ----------------------------------------------------------------------------- chart

  const bars = [];
  for (let d = 0; d < 10; d++) {
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.innerHTML =
      '<span class="bar-pct"></span><div class="bar-track"><div class="bar-fill"></div></div>' +
      `<span class="bar-label">${d}</span>`;
    chart.appendChild(bar);
    bars.push({
      root: bar,
      pct: bar.querySelector(".bar-pct"),
      fill: bar.querySelector(".bar-fill"),
    });
  }

  function showBars(probabilities, winner) {
    bars.forEach((bar, d) => {
      const p = probabilities ? probabilities[d] : 0;
      bar.fill.style.height = `${(p * 100).toFixed(1)}%`;
      // Label the winner and any real contender; the ~1% floor of every other digit is noise.
      bar.pct.textContent = probabilities && (d === winner || p >= 0.03) ? `${Math.round(p * 100)}%` : "";
      bar.root.classList.toggle("win", d === winner);
      bar.root.title = probabilities ? `${d}: ${(p * 100).toFixed(1)}%` : `${d}`;
    });
  }

  const percent = (p) => (p >= 0.995 ? ">99%" : `${Math.round(p * 100)}%`);

  // ----------------------------------------------------------------------------- drawing

  function fitCanvas(c) {
    const rect = c.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(rect.width * dpr));
    const h = Math.max(1, Math.round(rect.height * dpr));
    if (c.width !== w || c.height !== h) {
      c.width = w;
      c.height = h;
    }
  }

  // Draw strokes into a 2D context whose pad height is `scale` pixels.
  function paintStrokes(g, scale, color) {
    g.strokeStyle = color;
    g.fillStyle = color;
    g.lineWidth = INK_WIDTH * scale;
    g.lineCap = "round";
    g.lineJoin = "round";
    for (const stroke of strokes) {
      const pts = stroke.points;
      if (pts.length === 1) {
        g.beginPath();
        g.arc(pts[0][0] * scale, pts[0][1] * scale, (INK_WIDTH * scale) / 2, 0, Math.PI * 2);
        g.fill();
        continue;
      }
      // A quadratic curve through the midpoints: smooth, and still passes near every point.
      g.beginPath();
      g.moveTo(pts[0][0] * scale, pts[0][1] * scale);
      for (let i = 1; i < pts.length - 1; i++) {
        const mx = ((pts[i][0] + pts[i + 1][0]) / 2) * scale;
        const my = ((pts[i][1] + pts[i + 1][1]) / 2) * scale;
        g.quadraticCurveTo(pts[i][0] * scale, pts[i][1] * scale, mx, my);
      }
      const last = pts[pts.length - 1];
      g.lineTo(last[0] * scale, last[1] * scale);
      g.stroke();
    }
  }

  // Where an uploaded image sits in a w×h box: as large as fits, centred.
  function fitRect(iw, ih, w, h) {
    const s = Math.min(w / iw, h / ih);
    return { x: (w - iw * s) / 2, y: (h - ih * s) / 2, w: iw * s, h: ih * s, s };
  }

  function render() {
    fitCanvas(canvas);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (upload && upload.bitmap) {
      const r = fitRect(upload.bitmap.width, upload.bitmap.height, canvas.width, canvas.height);
      ctx.fillStyle = "#fff";
      ctx.fillRect(r.x, r.y, r.w, r.h);
      ctx.imageSmoothingQuality = "high";
      ctx.drawImage(upload.bitmap, r.x, r.y, r.w, r.h);
    }
    paintStrokes(ctx, canvas.height, getComputedStyle(document.body).getPropertyValue("--ink").trim() || "#fff");
    pad.classList.toggle("has-ink", strokes.length > 0 || !!upload);
    $("undo").disabled = strokes.length === 0;
    $("clear").disabled = strokes.length === 0 && !upload;
    renderBoxes();
  }

  function renderBoxes() {
    fitCanvas(overlay);
    octx.clearRect(0, 0, overlay.width, overlay.height);
    if (mode !== "number" || !lastAnswer || shownVersion !== version || lastAnswer.nothing_drawn) return;
    // Boxes come in the pixels of the image that was sent; map them onto the pad.
    let map;
    if (upload) {
      const r = fitRect(lastAnswer.width, lastAnswer.height, overlay.width, overlay.height);
      map = (x, y) => [r.x + x * r.s, r.y + y * r.s];
    } else {
      const s = overlay.height / lastAnswer.height;
      map = (x, y) => [x * s, y * s];
    }
    const dpr = window.devicePixelRatio || 1;
    octx.lineWidth = 2 * dpr;
    octx.font = `600 ${14 * dpr}px system-ui, sans-serif`;
    octx.textBaseline = "bottom";
    for (const d of lastAnswer.digits) {
      const [x0, y0] = map(d.box[0], d.box[1]);
      const [x1, y1] = map(d.box[2], d.box[3]);
      const color = d.unsure ? "#f0b35a" : "#8c94ff";
      octx.strokeStyle = color;
      octx.setLineDash(d.unsure ? [6 * dpr, 4 * dpr] : []);
      octx.strokeRect(x0, y0, x1 - x0, y1 - y0);
      const tag = `${d.digit}${d.unsure ? "?" : ""} ${percent(d.probability)}`;
      const tw = octx.measureText(tag).width + 8 * dpr;
      const ty = Math.max(y0, 20 * dpr);
      octx.fillStyle = color;
      octx.fillRect(x0 - 1 * dpr, ty - 19 * dpr, tw, 19 * dpr);
      octx.fillStyle = "#111";
      octx.fillText(tag, x0 + 3 * dpr, ty - 2 * dpr);
    }
  }

  function point(event) {
    const rect = canvas.getBoundingClientRect();
    return [(event.clientX - rect.left) / rect.height, (event.clientY - rect.top) / rect.height];
  }

  canvas.addEventListener("pointerdown", (event) => {
    if (event.pointerType === "mouse" && event.button !== 0) return;
    if (current) return; // one finger draws; a second one is ignored
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    if (upload) {
      upload = null; // drawing over an upload starts a fresh drawing
      strokes = [];
    }
    current = { id: event.pointerId, stroke: { points: [point(event)] } };
    strokes.push(current.stroke);
    changed(LIVE_MS);
  });

  canvas.addEventListener("pointermove", (event) => {
    if (!current || event.pointerId !== current.id) return;
    event.preventDefault();
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    for (const e of events.length ? events : [event]) current.stroke.points.push(point(e));
    changed(LIVE_MS);
  });

  function endStroke(event) {
    if (!current || event.pointerId !== current.id) return;
    current = null;
    changed(DONE_MS);
  }
  canvas.addEventListener("pointerup", endStroke);
  canvas.addEventListener("pointercancel", endStroke);
  canvas.addEventListener("contextmenu", (event) => event.preventDefault());

  let frame = 0;
  function changed(delay) {
    version++;
    if (!frame) {
      frame = requestAnimationFrame(() => {
        frame = 0;
        render();
      });
    }
    schedule(delay);
  }

  function undo() {
    if (current || strokes.length === 0) return;
    strokes.pop();
    changed(DONE_MS);
  }

  function clearAll() {
    current = null;
    strokes = [];
    upload = null;
    fileInput.value = "";
    changed(0);
  }

  $("undo").addEventListener("click", undo);
  $("clear").addEventListener("click", clearAll);
  document.addEventListener("keydown", (event) => {
    if (mode === "camera") return; // camera.js has its own keys
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "z") {
      event.preventDefault();
      undo();
    } else if (event.key === "Escape") {
      clearAll();
    }
  });

  new ResizeObserver(() => render()).observe(pad);

  // ----------------------------------------------------------------------------- asking the server

  function settle() {
    const settled = !inflight && !timer && !current && shownVersion === version;
    document.body.dataset.settled = String(settled);
  }

  // Ask after `delay` ms, unless a sooner request is already due (so moving keeps a steady pace).
  function schedule(delay) {
    const due = performance.now() + delay;
    if (timer && timerDue <= due) {
      settle();
      return;
    }
    clearTimeout(timer);
    timerDue = due;
    timer = setTimeout(() => {
      timer = null;
      ask();
    }, delay);
    settle();
  }

  function exportPng() {
    const h = EXPORT_HEIGHT;
    const off = document.createElement("canvas");
    off.width = Math.round(h * aspect());
    off.height = h;
    const g = off.getContext("2d");
    g.fillStyle = "#000";
    g.fillRect(0, 0, off.width, off.height);
    paintStrokes(g, h, "#fff");
    return new Promise((resolve) => off.toBlob(resolve, "image/png"));
  }

  async function post(body, contentType) {
    const url = mode === "number" ? "/api/read" : "/api/predict?top_k=3";
    let response;
    try {
      response = await fetch(url, { method: "POST", body, headers: { "Content-Type": contentType } });
    } catch {
      throw new Error("The server did not answer. Is digits serve still running?");
    }
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok) {
      const why = data && typeof data.detail === "string" ? data.detail : `the server answered ${response.status}`;
      throw new Error(why);
    }
    return data;
  }

  async function ask() {
    if (mode === "camera") return; // camera.js asks for itself
    if (inflight) return; // the answer handler asks again if the pad changed meanwhile
    const asked = version;
    const askedMode = mode;
    if (strokes.length === 0 && !upload) {
      showEmpty();
      shownVersion = asked;
      settle();
      return;
    }
    inflight = true;
    settle();
    try {
      const answer = upload
        ? await post(upload.file, upload.file.type || "application/octet-stream")
        : await post(await exportPng(), "image/png");
      if (asked === version && askedMode === mode) show(answer);
    } catch (error) {
      if (asked === version && askedMode === mode) showError(error.message || String(error));
    } finally {
      inflight = false;
      if (asked === version) shownVersion = asked;
      if (shownVersion !== version && !timer) ask();
      settle();
    }
  }

  // ----------------------------------------------------------------------------- showing answers

  function setState(state) {
    result.dataset.state = state;
  }

  function showEmpty() {
    lastAnswer = null;
    setState("empty");
    $("result-digit").textContent = "–";
    $("result-label").textContent = "Nothing drawn yet";
    $("result-detail").textContent = "Your digit's probabilities show up here as you draw.";
    $("seen").hidden = true;
    $("seen-empty").hidden = false;
    showBars(null, -1);
    $("result-number").textContent = "–";
    $("number-label").textContent = "Nothing drawn yet";
    $("number-detail").textContent = "Write a number with several digits, side by side.";
    $("chips").replaceChildren();
    renderBoxes();
  }

  function showNothing(answer) {
    showEmpty();
    const label = mode === "number" ? "number-label" : "result-label";
    const detail = mode === "number" ? "number-detail" : "result-detail";
    // The reader refuses marks that read as a number almost surely wrongly ("no number found: ..."), with why.
    const why = typeof answer.message === "string" && answer.message.startsWith("no number found: ")
      ? answer.message.slice("no number found: ".length)
      : null;
    $(label).textContent = why ? "No number found" : "Nothing drawn";
    $(detail).textContent = why ? `Nothing here reads as a number: ${why}.` : "The model found no ink here, so there is nothing to read.";
  }

  function showError(message) {
    lastAnswer = null;
    setState("error");
    if (mode === "number") {
      $("result-number").textContent = "!";
      $("number-label").textContent = "Could not read that";
      $("number-detail").textContent = message;
      $("chips").replaceChildren();
    } else {
      $("result-digit").textContent = "!";
      $("result-label").textContent = "Could not read that";
      $("result-detail").textContent = message;
      $("seen").hidden = true;
      $("seen-empty").hidden = false;
      showBars(null, -1);
    }
    renderBoxes();
  }

  function show(answer) {
    if (answer.nothing_drawn) {
      showNothing(answer);
      return;
    }
    if (mode === "number") return showNumber(answer);
    lastAnswer = null;
    setState(answer.unsure ? "unsure" : "ok");
    $("result-digit").textContent = String(answer.digit);
    if (answer.unsure) {
      const others = answer.top_k
        .slice(0, 3)
        .map((t) => `${t.digit} (${percent(t.probability)})`)
        .join(", ");
      $("result-label").textContent = `Maybe ${answer.digit}: not sure`;
      $("result-detail").textContent = `Best guesses: ${others}. Try drawing it bigger or clearer.`;
    } else {
      $("result-label").textContent = `${percent(answer.probability)} sure`;
      const second = answer.top_k[1];
      $("result-detail").textContent = second
        ? `Next best: ${second.digit} at ${percent(second.probability)}`
        : "";
    }
    $("seen").src = `data:image/png;base64,${answer.input_png}`;
    $("seen").hidden = false;
    $("seen-empty").hidden = true;
    showBars(answer.probabilities, answer.digit);
  }

  function showNumber(answer) {
    lastAnswer = answer;
    const unsure = answer.digits.filter((d) => d.unsure).length;
    setState(unsure ? "unsure" : "ok");
    $("result-number").textContent = answer.text;
    const n = answer.digits.length;
    const overall = typeof answer.probability === "number" ? ` · ${percent(answer.probability)} sure overall` : "";
    $("number-label").textContent = `${n} digit${n === 1 ? "" : "s"}${overall}`;
    $("number-detail").textContent = unsure
      ? `${unsure} of them unsure (dashed boxes): try writing ${unsure === 1 ? "it" : "them"} more clearly.`
      : "Each box on the drawing is one digit the model read.";
    $("chips").replaceChildren(
      ...answer.digits.map((d) => {
        const li = document.createElement("li");
        li.className = `chip${d.unsure ? " unsure" : ""}`;
        if (d.input_png) {
          const img = document.createElement("img");
          img.src = `data:image/png;base64,${d.input_png}`;
          img.alt = `the 28×28 image the model saw for this ${d.digit}`;
          img.width = 28;
          img.height = 28;
          li.append(img);
        }
        const b = document.createElement("b");
        b.textContent = String(d.digit);
        const span = document.createElement("span");
        span.textContent = d.unsure ? `${percent(d.probability)} ?` : percent(d.probability);
        li.append(b, span);
        return li;
      }),
    );
    // Boxes need the answer to be current; shownVersion is set once ask() returns.
    requestAnimationFrame(renderBoxes);
  }

  // ----------------------------------------------------------------------------- modes

  function setMode(next) {
    if (next === mode) return;
    const wasCamera = mode === "camera";
    mode = next;
    document.body.dataset.mode = mode;
    for (const m of ["digit", "number", "camera"]) $(`mode-${m}`).setAttribute("aria-checked", String(mode === m));
    // The camera has its own view and code (camera.js); this event starts and stops it.
    $("draw-layout").hidden = mode === "camera";
    $("camera-layout").hidden = mode !== "camera";
    document.dispatchEvent(new CustomEvent("digits:mode", { detail: mode }));
    if (mode === "camera") {
      clearTimeout(timer);
      timer = null;
      strokes = [];
      current = null;
      upload = null;
      lastAnswer = null;
      fileInput.value = "";
      version++;
      settle();
      return;
    }
    if (wasCamera) render(); // the pad was hidden: size its canvases again
    $("digit-view").hidden = mode !== "digit";
    $("number-view").hidden = mode !== "number";
    $("hint").textContent =
      mode === "number"
        ? "Write a number: several digits side by side, with a little space between them."
        : "Draw a digit from 0 to 9 with your mouse, pen or finger.";
    canvas.setAttribute(
      "aria-label",
      mode === "number" ? "Drawing area: write a number here" : "Drawing area: draw a digit here",
    );
    $("file").title = mode === "number" ? "Read a number from an image file" : "Read a digit from an image file";
    strokes = [];
    current = null;
    lastAnswer = null;
    if (upload) {
      changed(0); // read the same image the other way
    } else {
      showEmpty();
      changed(0);
    }
  }
  $("mode-digit").addEventListener("click", () => setMode("digit"));
  $("mode-number").addEventListener("click", () => setMode("number"));
  $("mode-camera").addEventListener("click", () => setMode("camera"));

  // ----------------------------------------------------------------------------- uploads

  async function useFile(file) {
    if (!file) return;
    if (file.size > maxUploadBytes) {
      showError(`That file is ${(file.size / 1048576).toFixed(1)} MB; the limit is ${maxUploadBytes / 1048576} MB.`);
      return;
    }
    let bitmap = null;
    try {
      bitmap = await createImageBitmap(file);
    } catch {
      bitmap = null; // the browser cannot show it; the server still says what is wrong
    }
    strokes = [];
    current = null;
    upload = { file, bitmap };
    changed(0);
  }

  fileInput.addEventListener("change", () => useFile(fileInput.files[0]));

  pad.addEventListener("dragover", (event) => {
    event.preventDefault();
    pad.classList.add("dragging");
  });
  pad.addEventListener("dragleave", () => pad.classList.remove("dragging"));
  pad.addEventListener("drop", (event) => {
    event.preventDefault();
    pad.classList.remove("dragging");
    useFile(event.dataTransfer.files[0]);
  });

  // ----------------------------------------------------------------------------- model info

  fetch("/healthz")
    .then((r) => r.json())
    .then((h) => {
      const m = h.model || {};
      const acc = typeof m.test_accuracy === "number" ? ` · ${(m.test_accuracy * 100).toFixed(2)}% on the MNIST test set` : "";
      $("model-info").textContent = `Model ${m.name} (${m.engine})${acc}`;
      if (h.max_upload_bytes) maxUploadBytes = h.max_upload_bytes;
    })
    .catch(() => {
      $("model-info").textContent = "Model info unavailable";
    });

  showEmpty();
  render();
})();
