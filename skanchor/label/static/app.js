// skanchor label: the labelling page. Plain JavaScript, no dependencies; every text from the
// server is inserted with textContent, never as HTML.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const state = {
    labels: [],
    minority: [],
    item: null,
    busy: false,
    lastWait: null,
    waits: [], // ms from a key press (or click) to the next item on screen, this page
    progressBusy: false,
    progressAgain: false,
    progressTimer: null,
    retrying: false, // the error line shows "cannot be reached; retrying"
  };
  window.skanchor = state; // for the browser tests and the curious

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const MAX_SHOWN = 20000; // characters of a text shown (see show)

  function cookie(name) {
    for (const part of document.cookie.split(";")) {
      const [key, ...rest] = part.trim().split("=");
      if (key === name) return decodeURIComponent(rest.join("="));
    }
    return "";
  }

  function requestId() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function showError(message) {
    $("error").textContent = message || "";
  }

  async function api(path, body, retries = 0) {
    const options = { credentials: "same-origin" };
    if (body !== undefined) {
      options.method = "POST";
      options.headers = {
        "Content-Type": "application/json",
        "X-CSRF-Token": cookie("skanchor_csrf"),
      };
      options.body = JSON.stringify(body);
    }
    for (let attempt = 0; ; attempt++) {
      let response;
      try {
        response = await fetch(path, options);
      } catch (err) {
        if (attempt < retries) {
          state.retrying = true;
          showError("The server cannot be reached; retrying…");
          await sleep(Math.min(4000, 200 * 2 ** attempt));
          continue;
        }
        throw new Error("The server cannot be reached.");
      }
      if (response.status >= 500 && attempt < retries) {
        await sleep(Math.min(4000, 200 * 2 ** attempt));
        continue;
      }
      const raw = await response.text();
      let data;
      try {
        data = JSON.parse(raw);
      } catch (err) {
        data = { error: raw || response.statusText };
      }
      if (!response.ok) {
        const error = new Error(data.error || `HTTP ${response.status}`);
        error.status = response.status;
        throw error;
      }
      if (state.retrying) {
        // the server is back; other messages stay until the next key press
        state.retrying = false;
        showError("");
      }
      return data;
    }
  }

  // -- the item ------------------------------------------------------------------------------
  function show(item) {
    state.item = item;
    const text = $("text");
    for (const button of $("buttons").children) button.classList.remove("previous");
    if (!item) {
      text.textContent = "";
      text.dataset.itemId = "";
      $("item-meta").textContent = "";
      $("done").hidden = false;
      return;
    }
    $("done").hidden = true;
    // A very long text (a log, a run without spaces) would freeze the page's layout for
    // seconds; its start is shown, far more than the model reads of it.
    const long = item.text.length > MAX_SHOWN;
    text.textContent = long ? item.text.slice(0, MAX_SHOWN) + "…" : item.text;
    text.dataset.itemId = String(item.id);
    text.scrollTop = 0;
    const origin = { model: "", diverse: " · diverse start", fallback: " · random" }[item.source];
    const second = item.n_labels > 0 ? " · second annotation" : "";
    const cut = long
      ? ` · first ${MAX_SHOWN.toLocaleString("en")} of ` +
        `${item.text.length.toLocaleString("en")} characters shown`
      : "";
    $("item-meta").textContent = `item ${item.source_id}${origin ?? ""}${second}${cut}`;
    $("note").value = item.previous_note || "";
    if (item.previous_label) {
      const index = state.labels.indexOf(item.previous_label);
      if (index >= 0) $("buttons").children[index].classList.add("previous");
    }
  }

  function recordWait(t0) {
    // the wait ends with the frame that shows the next item
    requestAnimationFrame(() => {
      const wait = performance.now() - t0;
      state.lastWait = Math.round(wait * 10) / 10;
      state.waits.push(state.lastWait);
      const sorted = [...state.waits].sort((a, b) => a - b);
      const p95 = sorted[Math.min(sorted.length - 1, Math.floor(0.95 * sorted.length))];
      $("wait").textContent = `wait ${Math.round(wait)} ms · p95 ${Math.round(p95)} ms`;
    });
  }

  async function act(kind, index) {
    if (state.busy) return;
    if (kind !== "undo" && !state.item) return;
    const t0 = performance.now();
    state.busy = true;
    document.body.classList.add("busy");
    showError(""); // a new action: the last message has been seen
    try {
      let next;
      if (kind === "label") {
        const body = {
          item_id: state.item.id,
          label: state.labels[index],
          note: $("note").value,
          request_id: requestId(),
          wait_ms: state.lastWait,
        };
        const answer = await api("/api/label", body, 8); // same request_id on retry: no duplicate
        // stored, but no next item could be leased just then: ask for one
        next = answer.next_pending ? (await api("/api/next", {}, 8)).item : answer.next;
      } else if (kind === "skip") {
        next = (await api("/api/skip", { item_id: state.item.id }, 8)).next;
      } else {
        const undone = (await api("/api/undo", {})).item; // never retried: undo is not idempotent
        if (!undone) {
          showError("Nothing to undo.");
          return;
        }
        next = undone;
      }
      show(next);
      recordWait(t0);
    } catch (err) {
      const rejected = err.status === 409 && kind === "label";
      if (err.status === 409) await loadNext();
      // after loadNext, so that its own message cannot hide why the label was refused
      showError(rejected ? `Your label was not recorded: ${err.message}` : err.message);
    } finally {
      state.busy = false;
      document.body.classList.remove("busy");
      soonProgress();
    }
  }

  // The panel follows the labels without adding a request to every key press: one refresh
  // a second at most while labelling.
  function soonProgress() {
    if (state.progressTimer === null) {
      state.progressTimer = setTimeout(() => {
        state.progressTimer = null;
        refreshProgress();
      }, 1000);
    }
  }

  async function loadNext() {
    try {
      show((await api("/api/next", {}, 8)).item);
    } catch (err) {
      showError(err.message);
    }
  }

  // -- the progress panel ---------------------------------------------------------------------
  const fmt = (x, digits = 2) => (x === null || x === undefined ? "–" : x.toFixed(digits));
  const pct = (x) => (x === null || x === undefined ? "–" : `${(100 * x).toFixed(1)}%`);

  function renderProgress(p) {
    $("p-total").textContent =
      `${p.n_labelled} of ${p.n_items} items labelled (${pct(p.n_labelled / p.n_items)}) · ` +
      `you: ${p.mine}` + (p.n_skipped ? ` · ${p.n_skipped} skipped` : "");
    const body = $("p-classes").tBodies[0];
    body.replaceChildren();
    const top = Math.max(1, ...Object.values(p.per_class));
    for (const [label, count] of Object.entries(p.per_class)) {
      const row = body.insertRow();
      const name = row.insertCell();
      name.textContent = label;
      if (p.minority.includes(label)) name.className = "minority";
      const number = row.insertCell();
      number.className = "count";
      number.textContent = String(count);
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.style.width = `${(100 * count) / top}%`;
      row.insertCell().append(bar);
    }
    $("p-minority").textContent = p.minority.length
      ? `Minority (${p.minority.join(", ")}): ${p.minority_found} found · ` +
        `${pct(p.minority_rate)} of the labelled items`
      : "Minority: not known yet";
    const model = p.model;
    const cv = p.cv;
    if (cv && cv.f1 !== null) {
      $("p-f1").textContent =
        `Minority F1: ${fmt(cv.f1)} (${cv.folds}-fold CV on ${cv.n_labels} labels)`;
    } else if (cv) {
      $("p-f1").textContent = "Minority F1: needs two labels of each class (cross-validated)";
    } else {
      $("p-f1").textContent = model
        ? "Minority F1: computed when the worker has a moment"
        : "Minority F1: after the first model (two classes labelled)";
    }
    if (!model) {
      $("p-stop").textContent = "Stop signal: after the first models";
      $("p-stop").className = "";
    } else {
      const history = (model.stop_history || []).map((v) => fmt(v, 3)).join(", ");
      if (model.should_stop) {
        $("p-stop").textContent = `Stop signal (${model.stop}): STOP — the model's predictions ` +
          `have stabilised (${history})`;
        $("p-stop").className = "stop";
      } else {
        $("p-stop").textContent = `Stop signal (${model.stop}): keep labelling` +
          (history ? ` (last checks ${history}; threshold ${model.stop_threshold} over ` +
          `${model.stop_window})` : "");
        $("p-stop").className = "";
      }
    }
    const worker = p.worker || {};
    $("p-model").textContent =
      `Model: ${worker.state || "?"}` +
      (model ? ` · #${model.generation} on ${model.n_labels} labels, ` +
        `${Math.round(model.age_s)} s ago` : "") +
      ` · ${p.queue.ready} items ready` +
      (worker.state === "error" && worker.error ? ` · ${worker.error}` : "");
    const team = p.wait_ms;
    $("p-waits").textContent = team
      ? `Wait between items (everyone, last ${team.n}): p50 ${Math.round(team.p50)} ms · ` +
        `p95 ${Math.round(team.p95)} ms`
      : "Wait between items: measured from the first label on";
    const agreement = $("p-agreement");
    agreement.hidden = !p.agreement;
    if (p.agreement) {
      agreement.textContent = `Double annotation: ${p.agreement.n_items} items · ` +
        `${pct(p.agreement.rate)} agree · kappa ${fmt(p.agreement.kappa)}`;
    }
    const list = $("p-annotators");
    list.replaceChildren();
    for (const [name, count] of Object.entries(p.per_annotator)) {
      const li = document.createElement("li");
      li.textContent = `${name}: ${count}`;
      list.append(li);
    }
  }

  async function refreshProgress() {
    if (state.progressBusy) {
      state.progressAgain = true;
      return;
    }
    state.progressBusy = true;
    try {
      renderProgress(await api("/api/progress"));
    } catch (err) {
      // the panel is informative only; the next refresh tries again
    } finally {
      state.progressBusy = false;
      if (state.progressAgain) {
        state.progressAgain = false;
        setTimeout(refreshProgress, 250);
      }
    }
  }

  // -- input ----------------------------------------------------------------------------------
  function onKey(event) {
    const target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA")) {
      if (target.id === "note" && (event.key === "Enter" || event.key === "Escape")) {
        event.preventDefault();
        target.blur();
      }
      return;
    }
    if ((event.ctrlKey || event.metaKey) && event.key === "z") {
      event.preventDefault();
      act("undo");
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    if (/^[1-9]$/.test(event.key)) {
      const index = Number(event.key) - 1;
      if (index < state.labels.length) {
        event.preventDefault();
        act("label", index);
      }
    } else if (event.key === "0" || event.key === "s" || event.key === "S") {
      event.preventDefault();
      act("skip");
    } else if (event.key === "u" || event.key === "U" || event.key === "Backspace") {
      event.preventDefault();
      act("undo");
    } else if (event.key === "n" || event.key === "N") {
      event.preventDefault();
      $("note").focus();
    }
  }

  async function start() {
    let session;
    try {
      session = await api("/api/session");
    } catch (err) {
      showError(err.message);
      return;
    }
    state.labels = session.labels;
    state.minority = session.minority || [];
    $("annotator").value = session.annotator || "";
    const buttons = $("buttons");
    session.labels.forEach((label, index) => {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.label = label;
      if (index < 9) {
        const key = document.createElement("kbd");
        key.textContent = String(index + 1);
        button.append(key, " ");
      }
      button.append(label);
      button.addEventListener("click", () => act("label", index));
      buttons.append(button);
    });
    $("skip").addEventListener("click", () => act("skip"));
    $("undo").addEventListener("click", () => act("undo"));
    $("whoami").addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await api("/api/annotator", { name: $("annotator").value });
        await loadNext();
        refreshProgress();
      } catch (err) {
        showError(err.message);
      }
    });
    document.addEventListener("keydown", onKey);
    await loadNext();
    refreshProgress();
    setInterval(refreshProgress, 5000);
  }

  start();
})();
