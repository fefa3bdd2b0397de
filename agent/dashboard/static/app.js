// The firstcrack dashboard: one EventSource, one model per roaster, redrawn at most once
// a second. Every URL is relative, so the page works under a path prefix (HA ingress).
"use strict";

const roasters = new Map();   // id -> {state, settings, telemetry, points, markers, connections, at}
let selected = null;
let lastMessage = 0;
let dirty = true;

const $ = (id) => document.getElementById(id);
const PHASE_WORDS = { idle: "idle", armed: "armed", first_crack: "first crack",
                      second_crack: "second crack" };
const MARKER_LABELS = { charge: "CHARGE", onset: "FC onset", first_crack: "FC",
                        first_crack_end: "FC end", second_crack: "SC", drop: "DROP" };
const RUNNING = ["armed", "first_crack", "second_crack"];

function clock(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "—";
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function roaster(id) {
  if (!roasters.has(id)) {
    roasters.set(id, { state: {}, settings: {}, telemetry: {}, points: [], markers: [],
                       connections: {}, at: Date.now() });
  }
  return roasters.get(id);
}

function load(snapshot) {
  for (const r of snapshot.roasters) {
    const m = roaster(r.id);
    Object.assign(m, { state: r.state, settings: r.settings, telemetry: r.telemetry,
                       points: r.points, markers: r.markers, connections: r.connections,
                       at: Date.now() });
  }
  if (selected === null && snapshot.roasters.length) selected = snapshot.roasters[0].id;
  tabs();
}

function apply(message) {
  const m = roaster(message.roaster);
  const p = message.payload;
  m.connections = message.connections || m.connections;
  if (message.kind === "telemetry") {
    m.telemetry = p;
    if (p.roast_s !== null) {
      followClock(m, p.roast_s);
      const at = m.points.findIndex(([sec]) => sec > p.roast_s);  // late windows fit in
      m.points.splice(at < 0 ? m.points.length : at, 0, [p.roast_s, p.probability]);
    }
  } else if (message.kind === "state") {
    if (typeof p.roast_s === "number") followClock(m, p.roast_s);
    const running = RUNNING.includes(m.state.phase);
    if (running && p.phase === "idle" && p.roast_started_ts) mark(m, "drop", p.roast_s);
    m.state = p;
    m.at = Date.now();
  } else if (message.kind === "settings") {
    m.settings = p;
  } else if (message.kind === "event") {
    if (p.event_type === "first_crack") {
      mark(m, "onset", p.onset_roast_s, p.event_id);
      mark(m, "first_crack", p.roast_s, p.event_id);
    } else if (p.event_type === "second_crack") {
      mark(m, "second_crack", p.onset_roast_s, p.event_id);
    } else if (p.event_type === "first_crack_end") {
      mark(m, "first_crack_end", p.end_roast_s, p.event_id);
    } else if (p.event_type === "false_alarm") {
      m.markers = m.markers.filter((x) => x.event_id !== p.retracts);
    }
  }
  if (selected === null) { selected = message.roaster; tabs(); }
}

// A roast clock that goes back by more than the cadence's lookback (30 s) is a new roast
// (CHARGE): a clean chart, as the server keeps (agent/dashboard/roaster_view.py).
function followClock(m, roastS) {
  const last = m.points.length ? m.points[m.points.length - 1][0] : null;
  if (last !== null && roastS + 30 < last) {
    m.points = [];
    m.markers = [{ kind: "charge", roast_s: 0 }];
  }
}

function mark(m, kind, roastS, eventId) {
  if (typeof roastS !== "number") return;
  m.markers = m.markers.filter((x) => x.kind !== kind);
  m.markers.push({ kind, roast_s: roastS, event_id: eventId });
}

function tabs() {
  const nav = $("tabs");
  nav.replaceChildren();
  if (roasters.size < 2) return;
  for (const id of roasters.keys()) {
    const b = document.createElement("button");
    b.textContent = id;
    b.className = id === selected ? "active" : "";
    b.onclick = () => { selected = id; tabs(); dirty = true; render(); };
    nav.appendChild(b);
  }
}

function render() {
  const m = roasters.get(selected);
  if (!m) return;
  const s = m.state, t = m.telemetry;
  const panel = $("panel");
  panel.dataset.roaster = selected;
  const phase = $("phase");
  phase.textContent = PHASE_WORDS[s.phase] || "—";
  phase.className = `badge ${s.phase || ""}`;
  const elapsed = (Date.now() - m.at) / 1000;
  const running = RUNNING.includes(s.phase);
  $("roast-clock").textContent = clock(s.roast_s === null ? null : s.roast_s + (running ? elapsed : 0));
  const dev = s.development_s === null || s.development_s === undefined ? null
    : s.development_s + (s.phase === "first_crack" || s.phase === "second_crack" ? elapsed : 0);
  $("development").textContent = dev === null ? "—" : clock(dev);
  $("dtr").textContent = typeof s.development_ratio === "number"
    ? `DTR ${(100 * s.development_ratio).toFixed(1)} %` : "";
  $("probability").textContent = typeof t.probability === "number" ? t.probability.toFixed(2) : "—";
  const threshold = m.settings.threshold ?? t.threshold;
  $("threshold").textContent = typeof threshold === "number" ? `threshold ${threshold}` : "";
  $("pops").textContent = typeof t.pops_per_min === "number" ? Math.round(t.pops_per_min) : "—";
  $("level").textContent = typeof t.dbfs === "number" ? `${t.dbfs.toFixed(0)} dBFS` : "—";
  $("arm").textContent = m.settings.armed === false ? "Arm" : "Disarm";
  $("arm").dataset.action = m.settings.armed === false ? "arm" : "disarm";
  const c = m.connections || {};
  $("mqtt").textContent = c.mqtt || "—";
  $("artisan-link").hidden = !c.artisan;
  $("artisan").textContent = c.artisan || "";
  const age = t.ts ? (Date.now() - Date.parse(t.ts)) / 1000 : null;
  $("audio").textContent = age === null ? "waiting" : age < 90 ? "listening" : `no window for ${Math.round(age)} s`;
  if (dirty) chart(m, threshold);
  dirty = false;
}

function chart(m, threshold) {
  const W = 1000, H = 320, L = 40, R = 990, T = 10, B = 290;
  const last = m.points.length ? m.points[m.points.length - 1][0] : 0;
  const span = Math.max(120, Math.ceil((last + 30) / 60) * 60);
  const x = (sec) => L + (R - L) * sec / span;
  const y = (p) => B - (B - T) * p;
  $("curve").setAttribute("points", m.points.map(([sec, p]) => `${x(sec).toFixed(1)},${y(p).toFixed(1)}`).join(" "));
  $("curve").dataset.points = String(m.points.length);
  const th = $("threshold-line");
  th.setAttribute("y1", y(threshold || 0)); th.setAttribute("y2", y(threshold || 0));
  th.style.display = typeof threshold === "number" ? "" : "none";
  const ns = "http://www.w3.org/2000/svg";
  const grid = $("grid");
  grid.replaceChildren();
  const step = span > 1200 ? 300 : span > 600 ? 120 : 60;
  for (let sec = 0; sec <= span; sec += step) {
    const l = document.createElementNS(ns, "line");
    l.setAttribute("x1", x(sec)); l.setAttribute("x2", x(sec)); l.setAttribute("y1", T); l.setAttribute("y2", B);
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", x(sec) + 3); label.setAttribute("y", H - 12); label.textContent = clock(sec);
    grid.append(l, label);
  }
  for (const p of [0, 0.5, 1]) {
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", 4); label.setAttribute("y", y(p) + 4); label.textContent = p.toFixed(1);
    grid.append(label);
  }
  const markers = $("markers");
  markers.replaceChildren();
  m.markers.forEach((mk, i) => {
    const l = document.createElementNS(ns, "line");
    l.setAttribute("x1", x(mk.roast_s)); l.setAttribute("x2", x(mk.roast_s));
    l.setAttribute("y1", T); l.setAttribute("y2", B);
    l.setAttribute("class", `m-${mk.kind}`);
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", x(mk.roast_s) + 3); label.setAttribute("y", T + 14 + 14 * (i % 3));
    label.textContent = MARKER_LABELS[mk.kind] || mk.kind;
    markers.append(l, label);
  });
}

async function send(action) {
  const headers = { "Content-Type": "application/json" };
  const token = sessionStorage.getItem("firstcrack-token");
  if (token) headers["Authorization"] = `Bearer ${token}`;
  const reply = await fetch("api/command", { method: "POST", headers,
    body: JSON.stringify({ roaster: selected, action }) });
  if (reply.status === 401) { $("token-form").hidden = false; $("message").textContent = "a token is needed"; return; }
  const body = await reply.json().catch(() => ({}));
  $("message").textContent = reply.ok ? `${action.replaceAll("_", " ")}: sent` : (body.error || `error ${reply.status}`);
}

function connect() {
  const source = new EventSource("api/stream");
  source.addEventListener("snapshot", (e) => { load(JSON.parse(e.data)); dirty = true; lastMessage = Date.now(); render(); });
  source.addEventListener("message", (e) => { apply(JSON.parse(e.data)); dirty = true; lastMessage = Date.now(); });
  source.onopen = () => { $("link").textContent = "live"; };
  source.onerror = () => { $("link").textContent = "reconnecting…"; };
}

document.querySelectorAll(".buttons button").forEach((b) => b.addEventListener("click", () => send(b.dataset.action)));
$("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem("firstcrack-token", $("token").value);
  $("token-form").hidden = true;
  $("message").textContent = "token set";
});
connect();
setInterval(render, 1000);
