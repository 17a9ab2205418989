// Live bars and decision for one stream of a streamlid server's event feed (protocol.schema.json).
"use strict";

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const streams = new Map(); // id -> {info, last: {decision, posteriors}, summary}
let names = {};
let chosen = params.get("stream") || "";

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const query = params.get("token") ? "?token=" + encodeURIComponent(params.get("token")) : "";
  const ws = new WebSocket(`${scheme}//${location.host}/events${query}`);
  ws.onopen = () => setStatus("connected", "live");
  ws.onclose = (e) => {
    setStatus(`disconnected (${e.code}${e.reason ? ": " + e.reason : ""}); retrying…`, "error");
    setTimeout(connect, 2000);
  };
  ws.onmessage = (e) => handle(JSON.parse(e.data));
}

function setStatus(text, kind) {
  $("status").textContent = text;
  $("status").className = "status " + (kind || "");
}

function handle(msg) {
  switch (msg.type) {
    case "hello":
      streams.clear();
      names = msg.names;
      $("meta").textContent = `model ${msg.model.name || "?"} (${msg.model.compute}) · ${msg.languages.length} languages · protocol ${msg.protocol}`;
      for (const s of msg.streams) addStream(s, s.last || {});
      break;
    case "open":
      addStream(msg, {});
      break;
    case "missed":
      setStatus(`live (missed ${msg.count} messages)`, "live");
      break;
    case "error":
      setStatus("server: " + msg.error, "error");
      break;
    default: {
      const s = streams.get(msg.stream);
      if (!s) return;
      if (msg.type === "decision" || msg.type === "posteriors") s.last[msg.type] = msg;
      if (msg.type === "summary") s.summary = msg;
      if (msg.stream === chosen) render();
    }
  }
}

function addStream(info, last) {
  streams.set(info.stream, { info, last, summary: null });
  if (!chosen || !streams.has(chosen) || streams.get(chosen).summary) chosen = info.stream;
  fillSelect();
  render();
}

function fillSelect() {
  const select = $("stream");
  select.replaceChildren(
    ...[...streams.values()].map((s) => {
      const o = document.createElement("option");
      o.value = s.info.stream;
      o.textContent = `${s.info.stream}: ${s.info.label}${s.summary ? " (ended)" : ""}`;
      return o;
    })
  );
  select.value = chosen;
}

$("stream").onchange = (e) => {
  chosen = e.target.value;
  render();
};

function render() {
  const s = streams.get(chosen);
  if (!s) return;
  const d = s.last.decision;
  const languages = s.last.posteriors ? Object.keys(s.last.posteriors.probs) : s.info.languages;
  const probs = s.last.posteriors ? s.last.posteriors.probs : {};
  const decided = d && d.language;
  $("decision-name").textContent = decided ? d.name : "—";
  $("decision-code").textContent = decided ? d.language : "";
  // decision events come only when the language or state changes; the smoothed probability moves on
  $("confidence").textContent = (d ? probs[d.language] ?? d.confidence : 0).toFixed(2);
  $("state").textContent = d ? d.state : "silence";
  $("decision").className = d ? d.state : "silence";
  const bars = $("bars");
  if (bars.dataset.languages !== languages.join(",")) {
    bars.dataset.languages = languages.join(",");
    bars.replaceChildren(...languages.map(barFor));
  }
  for (const code of languages) {
    const row = bars.querySelector(`[data-language="${code}"]`);
    const p = probs[code] ?? 1 / languages.length;
    row.querySelector(".fill").style.width = (100 * p).toFixed(1) + "%";
    row.querySelector(".p").textContent = p.toFixed(2);
    row.classList.toggle("decided", code === decided);
  }
  const summary = $("summary");
  summary.hidden = !s.summary;
  if (s.summary) {
    summary.textContent = s.summary.language
      ? `ended: ${s.summary.name} (${s.summary.language}) ${s.summary.confidence.toFixed(2)} over ${s.summary.speech_seconds.toFixed(1)} s of speech`
      : "ended: no speech heard";
    summary.dataset.language = s.summary.language || "";
    fillSelect();
  }
}

function barFor(code) {
  const row = document.createElement("div");
  row.className = "bar";
  row.dataset.language = code;
  const cell = (cls, text) => {
    const el = document.createElement("span");
    el.className = cls;
    el.textContent = text;
    return el;
  };
  const track = cell("track", "");
  track.appendChild(cell("fill", ""));
  row.append(cell("code", code), cell("name", names[code] || ""), track, cell("p", "0.00"));
  return row;
}

connect();
