// digits: the Camera mode. Plain JavaScript, no build step, no libraries.
//
// The live video is shown as it comes; a few times a second the current frame is drawn into a
// canvas at most SEND_SIDE pixels on its longer side, encoded as JPEG in the browser and sent to
// /api/read. At most one frame is in flight: the next one is taken only when the answer is back
// (and no sooner than MIN_GAP_MS after the last), so a slow server gets fewer frames, not a queue.
// The frame that was read is kept beside its answer, so boxes, Freeze and Download always show a
// reading with the very frame it came from. Sending stops while the tab is hidden, and leaving
// the mode stops the camera itself.

"use strict";

(() => {
  const SEND_SIDE = 640; // pixels on the longer side of each frame sent
  const JPEG_QUALITY = 0.85;
  const MIN_GAP_MS = 250; // at most 4 frames a second
  const SETTLE_N = 3; // the same text this many frames in a row counts as settled
  const STATS_N = 10; // frames/s and delay are averaged over this many answers

  const $ = (id) => document.getElementById(id);
  const cam = $("cam");
  const video = $("cam-video");
  const still = $("cam-still");
  const overlay = $("cam-overlay");
  const card = $("cam-result");
  const freezeButton = $("cam-freeze");
  const downloadButton = $("cam-download");
  $("cam-settle-n").textContent = String(SETTLE_N);

  let active = false; // the Camera mode is chosen
  let stream = null;
  let session = 0; // bumped on every start and stop: answers from an older session are dropped
  let frozen = false;
  let inflight = false;
  let timer = null;
  let lastSent = -Infinity;
  let grab = document.createElement("canvas"); // the frame being sent
  let read = document.createElement("canvas"); // the frame whose answer is shown
  let answer = null; // that answer
  let streak = { text: null, n: 0, settled: false };
  let answered = 0;
  let recent = []; // [{at, delay}] of the last STATS_N answers

  const percent = (p) => (p >= 0.995 ? ">99%" : `${Math.round(p * 100)}%`);

  // ----------------------------------------------------------------------------- starting and stopping

  const PROBLEMS = {
    insecure: [
      "The camera needs a secure page",
      () =>
        `This page is ${location.origin}. Browsers give the camera only to pages served over HTTPS or from ` +
        "localhost. On the machine running digits serve, open http://localhost:PORT/; from a phone, start " +
        "digits serve with --ssl-certfile and --ssl-keyfile and open its https:// address.",
    ],
    unsupported: ["This browser has no camera access", () => "It does not offer getUserMedia: try a current browser."],
    denied: [
      "Camera permission refused",
      () =>
        "The browser is not letting this page use the camera. Allow the camera for this site (in the address " +
        "bar or the site settings), then press Try again.",
    ],
    nocamera: ["No camera found", () => "The browser sees no camera on this device. Plug one in, then Try again."],
    busy: [
      "The camera is busy",
      () => "Another app or tab is using the camera, or it failed to start. Close the other app, then Try again.",
    ],
    ended: ["The camera stopped", () => "The camera was unplugged or switched off. Press Try again."],
  };

  function kindOf(error) {
    const name = (error && error.name) || "";
    if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") return "denied";
    if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError") return "nocamera";
    if (name === "NotReadableError" || name === "AbortError" || name === "TrackStartError") return "busy";
    return "other";
  }

  // The picture's state (off, starting, live, frozen, or a problem's kind); the reading's is on the card.
  function setCamState(state) {
    cam.dataset.state = state;
  }

  function fail(kind, error) {
    stopStream();
    const [title, text] = PROBLEMS[kind] || [
      "The camera did not start",
      () => `The browser said: ${(error && (error.message || error.name)) || "unknown error"}. Press Try again.`,
    ];
    setCamState(kind in PROBLEMS ? kind : "error");
    card.dataset.state = "problem";
    $("cam-message-title").textContent = title;
    $("cam-message-text").textContent = text();
    $("cam-message").hidden = false;
    $("cam-retry").hidden = kind === "insecure" || kind === "unsupported";
    $("cam-number").textContent = "–";
    $("cam-label").textContent = title;
    $("cam-detail").textContent = "No frames are being read.";
    $("cam-chips").replaceChildren();
    freezeButton.disabled = true;
    drawOverlay();
  }

  async function start() {
    if (stream || !active) return;
    const mine = ++session;
    reset();
    $("cam-message").hidden = true;
    if (!window.isSecureContext) return fail("insecure");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return fail("unsupported");
    setCamState("starting");
    card.dataset.state = "starting";
    $("cam-label").textContent = "Starting the camera…";
    $("cam-detail").textContent = "The browser may ask whether this page may use the camera.";
    let got;
    try {
      got = await navigator.mediaDevices.getUserMedia({
        audio: false,
        video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 }, height: { ideal: 720 } },
      });
    } catch (error) {
      if (mine === session) fail(kindOf(error), error);
      return;
    }
    if (mine !== session || !active) {
      got.getTracks().forEach((t) => t.stop()); // the mode was left while the browser asked
      return;
    }
    stream = got;
    const track = stream.getVideoTracks()[0];
    if (track) track.addEventListener("ended", () => mine === session && fail("ended"));
    video.srcObject = stream;
    try {
      await video.play();
    } catch {
      // muted, inline video may always play; if not, the frames still arrive once it does
    }
    if (mine !== session) return;
    setCamState("live");
    card.dataset.state = "reading";
    $("cam-label").textContent = "Looking…";
    $("cam-detail").textContent = "Hold a handwritten number in front of the camera.";
    schedule();
  }

  function stopStream() {
    clearTimeout(timer);
    timer = null;
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
    video.srcObject = null;
  }

  function stop() {
    session++;
    stopStream();
    reset();
    setCamState("off");
    card.dataset.state = "off";
    $("cam-label").textContent = "Camera off";
    $("cam-detail").textContent = "Choose Camera to start it.";
  }

  function reset() {
    frozen = false;
    answer = null;
    streak = { text: null, n: 0, settled: false };
    recent = [];
    card.dataset.text = "";
    still.hidden = true;
    video.hidden = false;
    freezeButton.disabled = true;
    downloadButton.hidden = true;
    freezeLooks(false);
    $("cam-number").textContent = "–";
    $("cam-chips").replaceChildren();
    $("cam-speed").textContent = "";
    drawOverlay();
  }

  // ----------------------------------------------------------------------------- sending frames

  function schedule() {
    clearTimeout(timer);
    timer = null;
    if (!stream || frozen || inflight || document.hidden) return;
    const wait = Math.max(0, lastSent + MIN_GAP_MS - performance.now());
    timer = setTimeout(() => {
      timer = null;
      send();
    }, wait);
  }

  async function send() {
    if (!stream || frozen || inflight || document.hidden) return;
    if (video.readyState < 2 || !video.videoWidth) {
      timer = setTimeout(schedule, 100); // no picture yet
      return;
    }
    const mine = session;
    const started = performance.now();
    const s = Math.min(1, SEND_SIDE / Math.max(video.videoWidth, video.videoHeight));
    grab.width = Math.round(video.videoWidth * s);
    grab.height = Math.round(video.videoHeight * s);
    const g = grab.getContext("2d");
    g.imageSmoothingQuality = "high";
    g.drawImage(video, 0, 0, grab.width, grab.height);
    inflight = true;
    lastSent = started;
    try {
      const blob = await new Promise((resolve) => grab.toBlob(resolve, "image/jpeg", JPEG_QUALITY));
      if (!blob) throw new Error("the browser could not encode the frame");
      const got = await post(blob);
      if (mine !== session || frozen) return; // stopped, or frozen on the previous reading
      [read, grab] = [grab, read]; // keep the frame that goes with this answer
      noteSpeed(started);
      show(got);
      if (document.hidden) notePaused(); // the tab was hidden while this frame was out
    } catch (error) {
      if (mine === session && !frozen) showTrouble(error.message || String(error));
    } finally {
      inflight = false;
      schedule();
    }
  }

  async function post(blob) {
    let response;
    try {
      response = await fetch("/api/read", { method: "POST", body: blob, headers: { "Content-Type": "image/jpeg" } });
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
      throw new Error(data && typeof data.detail === "string" ? data.detail : `the server answered ${response.status}`);
    }
    return data;
  }

  function noteSpeed(started) {
    const now = performance.now();
    answered++;
    recent.push({ at: now, delay: now - started });
    if (recent.length > STATS_N) recent.shift();
    const delay = recent.reduce((sum, r) => sum + r.delay, 0) / recent.length;
    const span = recent.length > 1 ? (recent[recent.length - 1].at - recent[0].at) / 1000 : 0;
    const fps = span > 0 ? (recent.length - 1) / span : 0;
    card.dataset.frames = String(answered);
    card.dataset.delayMs = String(Math.round(now - started));
    $("cam-speed").textContent = fps
      ? `${fps.toFixed(1)} frames/s · ${Math.round(delay)} ms from frame to answer`
      : `${Math.round(delay)} ms from frame to answer`;
  }

  function notePaused() {
    $("cam-detail").textContent = "Paused while this tab is hidden: no frames are sent.";
  }

  document.addEventListener("visibilitychange", () => {
    if (!stream) return;
    if (document.hidden) {
      clearTimeout(timer); // an answer in flight still lands; no new frame is sent
      timer = null;
      if (!frozen) notePaused();
    } else {
      schedule();
    }
  });

  // ----------------------------------------------------------------------------- showing readings

  function showTrouble(message) {
    answer = null;
    streak = { text: null, n: 0, settled: false };
    card.dataset.state = "error";
    $("cam-number").textContent = "!";
    $("cam-label").textContent = "Could not read that frame";
    $("cam-detail").textContent = message;
    $("cam-chips").replaceChildren();
    drawOverlay();
  }

  function show(got) {
    answer = got;
    freezeButton.disabled = false;
    const digits = Array.isArray(got.digits) ? got.digits : [];
    if (got.nothing_drawn || !got.text) {
      streak = { text: null, n: 0, settled: false };
      card.dataset.state = "nothing";
      card.dataset.text = "";
      $("cam-number").textContent = "–";
      $("cam-label").textContent = "No number in view";
      $("cam-detail").textContent = "Fill a good part of the picture with the digits, on plain paper.";
      $("cam-chips").replaceChildren();
      drawOverlay();
      return;
    }
    // A reading settles on a sure frame once the same text came back SETTLE_N frames in a row, and stays
    // settled while the frames keep reading that text: a later frame with a digit just under the threshold
    // shows it orange but does not unsettle the number (a hand-held camera would make it flicker).
    streak =
      got.text === streak.text
        ? { text: got.text, n: streak.n + 1, settled: streak.settled }
        : { text: got.text, n: 1, settled: false };
    const unsure = digits.filter((d) => d.unsure).length;
    const sure = !got.unsure && unsure === 0;
    if (streak.n >= SETTLE_N && sure) streak.settled = true;
    const settled = streak.settled;
    card.dataset.state = settled ? "settled" : sure ? "reading" : "unsure";
    card.dataset.text = got.text;
    showText(got.text, digits);
    const overall = typeof got.probability === "number" ? ` · ${percent(got.probability)} sure overall` : "";
    if (settled) {
      $("cam-label").textContent = "Settled";
      $("cam-detail").textContent = sure
        ? `The same reading for ${streak.n} frames in a row${overall}.`
        : `The same reading for ${streak.n} frames in a row; in this frame ${unsure || "some"} of the digits unsure (orange).`;
    } else if (card.dataset.state === "unsure") {
      $("cam-label").textContent = "Unsure";
      $("cam-detail").textContent =
        `${unsure || "Some"} of the digits unsure (orange, dashed): hold steady, come closer or light the paper.`;
    } else {
      $("cam-label").textContent = `Reading… ${Math.min(streak.n, SETTLE_N)} of ${SETTLE_N}`;
      $("cam-detail").textContent = `Hold steady: settled once ${SETTLE_N} frames in a row agree${overall}.`;
    }
    $("cam-chips").replaceChildren(
      ...digits.map((d) => {
        const li = document.createElement("li");
        li.className = `chip${d.unsure ? " unsure" : ""}`;
        const b = document.createElement("b");
        b.textContent = String(d.digit);
        const span = document.createElement("span");
        span.textContent = d.unsure ? `${percent(d.probability)} ?` : percent(d.probability);
        li.append(b, span);
        return li;
      }),
    );
    drawOverlay();
  }

  // The number in large type, its unsure digits marked (the text may hold separators between digits).
  function showText(text, digits) {
    const chars = [...text];
    if (chars.filter((c) => c >= "0" && c <= "9").length !== digits.length) {
      $("cam-number").textContent = text;
      return;
    }
    let k = 0;
    $("cam-number").replaceChildren(
      ...chars.map((c) => {
        if (c < "0" || c > "9") return document.createTextNode(c);
        const span = document.createElement("span");
        span.textContent = c;
        if (digits[k++].unsure) span.className = "unsure";
        return span;
      }),
    );
  }

  // Boxes and digits over a picture of the frame: `map` turns frame pixels into canvas pixels.
  function paintBoxes(g, got, map, unit) {
    g.lineWidth = 2 * unit;
    g.font = `600 ${14 * unit}px system-ui, sans-serif`;
    g.textBaseline = "bottom";
    for (const d of Array.isArray(got.digits) ? got.digits : []) {
      if (!Array.isArray(d.box) || d.box.length !== 4) continue;
      const [x0, y0] = map(d.box[0], d.box[1]);
      const [x1, y1] = map(d.box[2], d.box[3]);
      const color = d.unsure ? "#f0b35a" : "#8c94ff";
      g.strokeStyle = color;
      g.setLineDash(d.unsure ? [6 * unit, 4 * unit] : []);
      g.strokeRect(x0, y0, x1 - x0, y1 - y0);
      const tag = `${d.digit}${d.unsure ? "?" : ""} ${percent(d.probability)}`;
      const tw = g.measureText(tag).width + 8 * unit;
      const ty = Math.max(y0, 20 * unit);
      g.fillStyle = color;
      g.fillRect(x0 - unit, ty - 19 * unit, tw, 19 * unit);
      g.fillStyle = "#111";
      g.fillText(tag, x0 + 3 * unit, ty - 2 * unit);
    }
    // Separators between digit groups (".", "-", "/"), where the reader reports them: thin and grey.
    g.lineWidth = unit;
    g.strokeStyle = "#c9ced9";
    g.setLineDash([2 * unit, 3 * unit]);
    for (const row of Array.isArray(got.rows) ? got.rows : []) {
      for (const sep of Array.isArray(row.separators) ? row.separators : []) {
        if (!Array.isArray(sep.box) || sep.box.length !== 4 || !String(sep.char || "").trim()) continue;
        const [x0, y0] = map(sep.box[0], sep.box[1]);
        const [x1, y1] = map(sep.box[2], sep.box[3]);
        g.strokeRect(x0, y0, x1 - x0, y1 - y0);
      }
    }
    g.setLineDash([]);
  }

  // Where a w×h frame sits in the view (object-fit: contain).
  function fit(w, h, cw, ch) {
    const s = Math.min(cw / w, ch / h);
    return { x: (cw - w * s) / 2, y: (ch - h * s) / 2, s };
  }

  function drawOverlay() {
    const rect = overlay.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    overlay.width = Math.max(1, Math.round(rect.width * dpr));
    overlay.height = Math.max(1, Math.round(rect.height * dpr));
    const g = overlay.getContext("2d");
    g.clearRect(0, 0, overlay.width, overlay.height);
    if (!answer || answer.nothing_drawn || !answer.width || !answer.height) return;
    const r = fit(answer.width, answer.height, overlay.width, overlay.height);
    paintBoxes(g, answer, (x, y) => [r.x + x * r.s, r.y + y * r.s], dpr);
  }

  new ResizeObserver(() => {
    if (active) drawOverlay();
  }).observe(cam);

  video.addEventListener("loadedmetadata", () => {
    if (video.videoWidth && video.videoHeight) cam.style.aspectRatio = `${video.videoWidth} / ${video.videoHeight}`;
  });

  // ----------------------------------------------------------------------------- freeze, resume, download

  // The one button is Freeze while live and Resume while frozen.
  function freezeLooks(isFrozen) {
    $("cam-freeze-label").textContent = isFrozen ? "Resume" : "Freeze";
    $("cam-icon-freeze").toggleAttribute("hidden", isFrozen); // an SVG element has no .hidden property
    $("cam-icon-resume").toggleAttribute("hidden", !isFrozen);
    freezeButton.title = isFrozen ? "Go back to the live picture (Space)" : "Keep this frame and its reading (Space)";
  }

  function freeze() {
    if (!stream || frozen || !answer) return;
    frozen = true;
    clearTimeout(timer);
    timer = null;
    still.width = read.width;
    still.height = read.height;
    still.getContext("2d").drawImage(read, 0, 0);
    still.hidden = false;
    video.hidden = true;
    video.pause();
    setCamState("frozen");
    freezeLooks(true);
    downloadButton.hidden = false;
    $("cam-label").textContent = `Frozen · ${$("cam-label").textContent}`;
    drawOverlay();
  }

  function resume() {
    if (!frozen) return;
    frozen = false;
    still.hidden = true;
    video.hidden = false;
    video.play().catch(() => {});
    setCamState("live");
    freezeLooks(false);
    downloadButton.hidden = true;
    streak = { text: null, n: 0, settled: false }; // settled again only on fresh frames
    $("cam-label").textContent = "Looking…";
    schedule();
  }

  // The frozen frame with its boxes and the reading written under it, as a PNG file.
  function download() {
    if (!frozen || !answer) return;
    const unit = Math.max(1, read.width / 640);
    const band = Math.round(34 * unit);
    const out = document.createElement("canvas");
    out.width = read.width;
    out.height = read.height + band;
    const g = out.getContext("2d");
    g.drawImage(read, 0, 0);
    const sx = read.width / answer.width;
    const sy = read.height / answer.height;
    paintBoxes(g, answer, (x, y) => [x * sx, y * sy], unit);
    g.fillStyle = "#161b26";
    g.fillRect(0, read.height, out.width, band);
    g.fillStyle = "#f4f6fb";
    g.font = `600 ${18 * unit}px system-ui, sans-serif`;
    g.textBaseline = "middle";
    const text = answer.text || "";
    const note = text ? `read: ${text} · ${$("cam-label").textContent.replace(/^Frozen · /, "")}` : "no number read";
    g.fillText(note, 10 * unit, read.height + band / 2);
    out.toBlob((blob) => {
      if (!blob) return;
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = `digits-camera-${text.replace(/[^0-9A-Za-z.-]+/g, "_") || "nothing"}.png`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    }, "image/png");
  }

  freezeButton.addEventListener("click", () => (frozen ? resume() : freeze()));
  downloadButton.addEventListener("click", download);
  $("cam-retry").addEventListener("click", () => {
    stopStream();
    start();
  });
  document.addEventListener("keydown", (event) => {
    if (!active || event.key !== " " || (!frozen && freezeButton.disabled)) return;
    // Space on a focused button presses that button, except on the mode switch (still focused after
    // choosing Camera), where it means Freeze / Resume as everywhere else on the page.
    const target = event.target instanceof Element ? event.target : null;
    if (target && target.closest("input, textarea, select, a, button:not(.mode)")) return;
    event.preventDefault();
    if (frozen) resume();
    else freeze();
  });

  // ----------------------------------------------------------------------------- the mode

  document.addEventListener("digits:mode", (event) => {
    const on = event.detail === "camera";
    if (on === active) return;
    active = on;
    if (on) start();
    else stop();
  });
})();
