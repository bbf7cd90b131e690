// podscale playground: sliders -> `--set` overrides -> POST /api/run -> three canvas plots.
// No libraries, nothing fetched but this server's own API.
"use strict";

// Each slider is one scenario override. `fmt` turns the slider value into the --set value; `rate` is the
// traffic multiplier the server applies to every rate under `traffic:`.
const SLIDERS = [
  { id: "stable-window", label: "Stable window (s)", key: "autoscaler.config.stable-window", min: 6, max: 300, step: 1, def: 60, fmt: v => v + "s" },
  { id: "panic-window", label: "Panic window (% of stable)", key: "autoscaler.config.panic-window-percentage", min: 1, max: 100, step: 1, def: 10, fmt: v => String(v) },
  { id: "panic-threshold", label: "Panic threshold (%)", key: "autoscaler.config.panic-threshold-percentage", min: 110, max: 1000, step: 10, def: 200, fmt: v => String(v) },
  { id: "target", label: "Target (concurrency or rps per pod)", key: "service.scaleTarget", min: 1, max: 100, step: 1, def: 10, fmt: v => String(v) },
  { id: "utilization", label: "Target utilization (%)", key: "autoscaler.config.container-concurrency-target-percentage", min: 10, max: 100, step: 5, def: 70, fmt: v => String(v) },
  { id: "tbc", label: "Target burst capacity (-1 = always activator)", key: "autoscaler.config.target-burst-capacity", min: -1, max: 400, step: 1, def: 211, fmt: v => String(v) },
  { id: "scale-up", label: "Max scale-up rate (x per tick)", key: "autoscaler.config.max-scale-up-rate", min: 1.1, max: 20, step: 0.1, def: 1000, fmt: v => String(v) },
  { id: "scale-down", label: "Max scale-down rate (/ per tick)", key: "autoscaler.config.max-scale-down-rate", min: 1.1, max: 20, step: 0.1, def: 2, fmt: v => String(v) },
  { id: "cold-start", label: "Cold start (s)", key: "pod.cold_start", min: 0, max: 60, step: 0.5, def: 8, fmt: v => v + "s" },
  { id: "rate", label: "Traffic rate (x scenario)", rate: true, min: 0.1, max: 5, step: 0.1, def: 1, fmt: v => String(v) },
];

const state = { scenarios: [], name: "", yaml: "", touched: new Set(), seq: 0, runs: 0, inputAt: null };
const $ = id => document.getElementById(id);

function buildSliders() {
  const box = $("sliders");
  for (const s of SLIDERS) {
    const div = document.createElement("div");
    div.className = "slider untouched";
    div.innerHTML = `<span class="label">${s.label}</span> <span class="value"></span>` +
      `<input type="range" id="s-${s.id}" min="${s.min}" max="${s.max}" step="${s.step}">`;
    box.appendChild(div);
    const input = div.querySelector("input");
    input.value = Math.min(Math.max(s.def, s.min), s.max);
    showValue(s, div);
    input.addEventListener("input", () => {
      state.touched.add(s.id);
      div.classList.remove("untouched");
      showValue(s, div);
      state.inputAt = performance.now();
      scheduleRun();
    });
  }
}

function showValue(s, div) {
  const v = div.querySelector("input").value;
  div.querySelector(".value").textContent = state.touched.has(s.id) ? s.fmt(v) : "scenario's";
}

function request() {
  const overrides = [];
  let rate = 1;
  for (const s of SLIDERS) {
    if (!state.touched.has(s.id)) continue;
    const v = $("s-" + s.id).value;
    if (s.rate) rate = Number(v); else overrides.push(`${s.key}=${s.fmt(v)}`);
  }
  return { name: state.name, yaml: state.yaml, overrides, rate_scale: rate };
}

// One run in flight at a time; moves made meanwhile collapse into one follow-up run.
let inFlight = false, pending = false;
function scheduleRun() {
  if (inFlight) { pending = true; return; }
  run();
}

async function run() {
  inFlight = true; pending = false;
  const body = request();
  const t0 = performance.now();
  $("status").textContent = "simulating...";
  try {
    const resp = await fetch("/api/run", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const data = await resp.json();
    if (!resp.ok) {
      $("error").hidden = false;
      $("error").textContent = data.error;
      $("status").textContent = "the scenario has errors (nothing redrawn)";
    } else {
      $("error").hidden = true;
      draw(data);
      const t1 = performance.now();
      const since = state.inputAt !== null ? t1 - state.inputAt : t1 - t0;
      state.runs += 1;
      const plots = $("plots");
      plots.dataset.runs = String(state.runs);
      plots.dataset.redrawMs = since.toFixed(1);
      plots.dataset.serverMs = String(data.server_ms);
      $("status").textContent = `redrawn in ${since.toFixed(0)} ms (simulation ${data.server_ms} ms on the server)` +
        (data.capped.length ? `; shortened for the playground: ${data.capped.join(", ")}` : "");
      const url = URL.createObjectURL(new Blob([data.yaml], { type: "application/yaml" }));
      const a = $("download");
      if (a.href.startsWith("blob:")) URL.revokeObjectURL(a.href);
      a.href = url;
      a.download = state.name.replace(/\.ya?ml$/, "") + "-playground.yaml";
    }
  } catch (e) {
    $("status").textContent = "request failed: " + e;
  }
  inFlight = false;
  if (pending) run();
}

// ---- plotting -------------------------------------------------------------------------------------
const PAD = { l: 46, r: 22, t: 8, b: 22 };

function frame(canvas, xmax, ymax, ylog) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height;
  ctx.clearRect(0, 0, W, H);
  const x = t => PAD.l + (W - PAD.l - PAD.r) * t / Math.max(xmax, 1);
  const lo = ylog ? Math.log10(ylog) : 0, hi = ylog ? Math.log10(Math.max(ymax, ylog * 10)) : Math.max(ymax, 1e-9);
  const y = v => {
    const u = ylog ? (Math.log10(Math.max(v, ylog)) - lo) / (hi - lo) : v / hi;
    return H - PAD.b - (H - PAD.t - PAD.b) * u;
  };
  ctx.strokeStyle = "#888"; ctx.fillStyle = "#444"; ctx.font = "11px sans-serif"; ctx.lineWidth = 1;
  ctx.beginPath(); ctx.moveTo(PAD.l, PAD.t); ctx.lineTo(PAD.l, H - PAD.b); ctx.lineTo(W - PAD.r, H - PAD.b); ctx.stroke();
  const ticks = ylog ? logTicks(ylog, 10 ** hi) : linTicks(hi);
  for (const v of ticks) { ctx.fillText(fmtNum(v), 2, y(v) + 4); ctx.strokeStyle = "#eee"; ctx.beginPath(); ctx.moveTo(PAD.l + 1, y(v)); ctx.lineTo(W - PAD.r, y(v)); ctx.stroke(); }
  for (const t of linTicks(xmax)) ctx.fillText(t + " s", x(t) - 8, H - 6);
  return { ctx, x, y, W, H };
}
function linTicks(max) {
  const step = niceStep(max / 4); const out = [];
  for (let v = 0; v <= max + 1e-9; v += step) out.push(+v.toFixed(6));
  return out;
}
function niceStep(raw) {
  const p = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-9)));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}
function logTicks(lo, hi) { const out = []; for (let v = lo; v <= hi * 1.0001; v *= 10) out.push(v); return out; }
function fmtNum(v) { return v >= 1000 ? (v / 1000) + "k" : String(+v.toFixed(2)); }

function line(f, ts, vs, color, width) {
  const { ctx, x, y } = f;
  ctx.strokeStyle = color; ctx.lineWidth = width || 1.5; ctx.beginPath();
  let open = false;
  for (let i = 0; i < ts.length; i++) {
    const v = vs[i];
    if (v === null || v === undefined) { open = false; continue; }
    if (open) ctx.lineTo(x(ts[i]), y(v)); else { ctx.moveTo(x(ts[i]), y(v)); open = true; }
  }
  ctx.stroke();
}
function bands(f, ts, flags, color, top, bottom) {
  const { ctx, x } = f; ctx.fillStyle = color;
  for (let i = 0; i < ts.length; i++) if (flags[i]) { const x0 = x(ts[i] - 1), x1 = x(ts[i]); ctx.fillRect(x0, top, Math.max(x1 - x0, 1), bottom - top); }
}
function legend(f, items) {
  const { ctx, W } = f; let xx = W - PAD.r - 8;
  ctx.font = "11px sans-serif";
  for (const [label, color] of items.slice().reverse()) {
    const w = ctx.measureText(label).width; xx -= w + 18;
    ctx.fillStyle = color; ctx.fillRect(xx, PAD.t + 4, 12, 3);
    ctx.fillStyle = "#333"; ctx.fillText(label, xx + 15, PAD.t + 9);
  }
}
const maxOf = (...cols) => Math.max(1, ...cols.flat().filter(v => v !== null && v !== undefined));

function draw(data) {
  const s = data.series, ts = s.time_s, xmax = ts.length ? ts[ts.length - 1] : 1;
  // Replicas.
  let f = frame($("replicas"), xmax, maxOf(s.desired_pods, s.ready_pods, s.starting_pods) * 1.1);
  bands(f, ts, s.activator_in_path, "rgba(255,160,0,0.35)", f.H - PAD.b - 6, f.H - PAD.b);
  line(f, ts, s.desired_pods, "#999", 1.2);
  line(f, ts, s.starting_pods, "#e07b00");
  line(f, ts, s.ready_pods, "#1d3557", 2);
  legend(f, [["desired", "#999"], ["starting", "#e07b00"], ["ready", "#1d3557"]]);
  // Metric against target, panic shaded.
  f = frame($("metric"), xmax, maxOf(s.observed_stable, s.observed_panic, s.target) * 1.1);
  bands(f, ts, s.panic, "rgba(220,40,40,0.18)", PAD.t, f.H - PAD.b);
  line(f, ts, s.target, "#2a9d8f", 1.5);
  line(f, ts, s.observed_panic, "#e76f51", 1);
  line(f, ts, s.observed_stable, "#1d3557", 2);
  legend(f, [["stable", "#1d3557"], ["panic window", "#e76f51"], ["target x ready", "#2a9d8f"]]);
  // Latency.
  f = frame($("latency"), xmax, maxOf(s.latency_p99_ms) * 1.2, 1);
  line(f, ts, s.latency_p99_ms, "#c1121f");
  line(f, ts, s.latency_p50_ms, "#1d3557");
  legend(f, [["p50", "#1d3557"], ["p99", "#c1121f"]]);
  // A fingerprint of the replica curve, for tests and curious users.
  const ready = s.ready_pods.reduce((a, b) => a + b, 0);
  $("replicas").dataset.readyPodSeconds = String(ready);
  $("replicas").dataset.panicSeconds = String(s.panic.filter(Boolean).length);
  const sm = data.summary;
  $("summary").innerHTML = `<b>${esc(sm.scenario)}</b>: ${sm.requests.total ?? ""} requests, p99 ${num(sm.latency_ms.p99)} ms,
    pod-seconds ${num(sm.pod_seconds)}, panic ${num(sm.panic_seconds)} s, cold starts ${sm.cold_starts}, max ready pods ${sm.replicas.max_ready}`;
}
const esc = t => String(t).replace(/[&<>"]/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
const num = v => (v === null || v === undefined) ? "-" : (+v).toFixed(1);

// ---- scenario picker ------------------------------------------------------------------------------
function selectScenario(name) {
  const sc = state.scenarios.find(s => s.name === name);
  state.name = sc.name; state.yaml = sc.yaml; $("yaml").value = sc.yaml;
  state.inputAt = null;
  scheduleRun();
}

async function init() {
  buildSliders();
  state.scenarios = await (await fetch("/api/scenarios")).json();
  for (const sc of state.scenarios) {
    const o = document.createElement("option"); o.value = sc.name; o.textContent = sc.name; $("scenario").appendChild(o);
  }
  $("scenario").addEventListener("change", e => selectScenario(e.target.value));
  $("use-yaml").addEventListener("click", () => { state.name = "pasted.yaml"; state.yaml = $("yaml").value; state.inputAt = null; scheduleRun(); });
  $("reset").addEventListener("click", () => {
    state.touched.clear();
    for (const s of SLIDERS) { const input = $("s-" + s.id); input.value = Math.min(Math.max(s.def, s.min), s.max); input.parentElement.classList.add("untouched"); showValue(s, input.parentElement); }
    state.inputAt = null; scheduleRun();
  });
  selectScenario(state.scenarios[0].name);
}
init();
