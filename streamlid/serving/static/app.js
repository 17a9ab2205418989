// Live bars and decision for one stream of a streamlid server's event feed (protocol.schema.json).
"use strict";

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const streams = new Map(); // id -> {info, last: {decision, posteriors, vad}, summary}
const TOP_BARS = 8; // bars for the most probable languages
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
      if (msg.type === "decision" || msg.type === "posteriors" || msg.type === "vad") s.last[msg.type] = msg;
      // "none of the languages" is held like a language, also through the silence after it
      if (msg.type === "decision" && msg.state !== "silence") s.unknown = msg.state === "speech-unknown";
      if (msg.type === "summary") s.summary = msg;
      if (msg.stream === chosen) render();
    }
  }
}

function addStream(info, last) {
  const unknown = !!(last && last.decision && last.decision.state === "speech-unknown");
  streams.set(info.stream, { info, last, summary: null, unknown });
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
  const probs = s.last.posteriors ? s.last.posteriors.probs : {};
  const all = s.last.posteriors ? Object.keys(probs) : s.info.languages;
  // the most probable languages, best first (a model may have 99)
  const languages = [...all].sort((a, b) => (probs[b] ?? 0) - (probs[a] ?? 0)).slice(0, TOP_BARS);
  const decided = d && d.language;
  const unknown = !!(d && !d.language && s.unknown);
  const pUnknown = s.last.posteriors ? s.last.posteriors.unknown : undefined;
  $("decision-name").textContent = decided ? d.name : unknown ? "Another language" : "—";
  $("decision-code").textContent = decided ? d.language : unknown ? "not one of the model's languages" : "";
  // decision events come only when the language or state changes; the smoothed probability moves on
  const confidence = unknown ? pUnknown ?? d.confidence : d ? probs[d.language] ?? d.confidence : 0;
  $("confidence").textContent = confidence.toFixed(2);
  // a sound the model's speech check says is not speech reads as such, not as silence
  const heard = !s.last.vad || s.last.vad.speech;
  const sound = heard && !!(s.last.posteriors && s.last.posteriors.speech === false);
  $("state").textContent = sound ? "sound, not speech" : d ? d.state : "silence";
  $("decision").className = unknown ? "speech-unknown" : d ? d.state : "silence";
  const other = $("other");
  other.hidden = pUnknown === undefined;
  if (pUnknown !== undefined) {
    other.querySelector(".fill").style.width = (100 * pUnknown).toFixed(1) + "%";
    other.querySelector(".p").textContent = pUnknown.toFixed(2);
    other.classList.toggle("decided", unknown);
  }
  const bars = $("bars");
  if (bars.dataset.languages !== languages.join(",")) {
    bars.dataset.languages = languages.join(",");
    bars.replaceChildren(...languages.map(barFor));
  }
  for (const code of languages) {
    const row = bars.querySelector(`[data-language="${code}"]`);
    const p = probs[code] ?? 1 / all.length;
    row.querySelector(".fill").style.width = (100 * p).toFixed(1) + "%";
    row.querySelector(".p").textContent = p.toFixed(2);
    row.classList.toggle("decided", code === decided);
  }
  const summary = $("summary");
  summary.hidden = !s.summary;
  if (s.summary) {
    const e = s.summary;
    const closest = e.top.length ? `; closest ${e.top[0].name} (${e.top[0].language})` : "";
    summary.textContent = e.language
      ? `ended: ${e.name} (${e.language}), overall p ${e.confidence.toFixed(2)} over ${e.speech_seconds.toFixed(1)} s of speech`
      : e.state === "speech-unknown"
        ? `ended: another language, not one of the model's (p ${e.unknown.toFixed(2)}) over ${e.speech_seconds.toFixed(1)} s of speech${closest}`
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

// -- the microphone: getUserMedia -> AudioWorklet -> /audio, float32 at the device's rate ---------------
const mic = { ws: null, context: null, media: null, stream: "" };
const MIC_CHUNK_SECONDS = 0.1;

function setMic(text, kind) {
  $("mic").textContent = text;
  $("mic").className = "status " + (kind || "");
}

async function startMic() {
  if (!window.isSecureContext || !navigator.mediaDevices) {
    setMic("the microphone needs https:// or http://127.0.0.1 (see the README)", "error");
    return;
  }
  $("listen").disabled = true;
  try {
    mic.media = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
  } catch (e) {
    $("listen").disabled = false;
    setMic(`no microphone: ${e.message || e.name}`, "error");
    return;
  }
  mic.context = new AudioContext();
  await mic.context.audioWorklet.addModule("mic-worklet.js");
  const source = mic.context.createMediaStreamSource(mic.media);
  const capture = new AudioWorkletNode(mic.context, "streamlid-capture");
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const query = params.get("token") ? "?token=" + encodeURIComponent(params.get("token")) : "";
  const ws = new WebSocket(`${scheme}//${location.host}/audio${query}`);
  ws.binaryType = "arraybuffer";
  mic.ws = ws;
  const rate = mic.context.sampleRate;
  const chunk = Math.round(rate * MIC_CHUNK_SECONDS);
  let pending = [], count = 0, started = false;
  capture.port.onmessage = (e) => {
    if (!started || ws.readyState !== WebSocket.OPEN) return;
    pending.push(e.data);
    count += e.data.length;
    if (count < chunk) return;
    const out = new Float32Array(count);
    let at = 0;
    for (const block of pending) {
      out.set(block, at);
      at += block.length;
    }
    pending = [];
    count = 0;
    ws.send(out.buffer); // little-endian float32, as the start message says
  };
  ws.onopen = () =>
    ws.send(JSON.stringify({ type: "start", sample_rate: rate, channels: 1, format: "float32", label: "browser microphone" }));
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.type === "started") {
      started = true;
      mic.stream = msg.stream;
      chosen = msg.stream; // show this stream (its events come over the feed too)
      render();
      $("listen").textContent = "■ Stop";
      $("listen").classList.add("on");
      $("listen").disabled = false;
      setMic(`listening at ${rate} Hz`, "live");
    } else if (msg.type === "error") {
      setMic("server: " + msg.error, "error");
    }
  };
  ws.onclose = (e) => {
    stopCapture();
    if (e.code !== 1000) setMic(`microphone stream closed (${e.code}${e.reason ? ": " + e.reason : ""})`, "error");
    else setMic("");
  };
  source.connect(capture);
}

function stopCapture() {
  if (mic.media) mic.media.getTracks().forEach((t) => t.stop());
  if (mic.context) mic.context.close();
  mic.media = mic.context = null;
  $("listen").textContent = "● Listen";
  $("listen").classList.remove("on");
  $("listen").disabled = false;
}

$("listen").onclick = () => {
  if (mic.ws && mic.ws.readyState === WebSocket.OPEN) {
    mic.ws.send(JSON.stringify({ type: "stop" })); // the summary follows, then the server closes
    mic.ws = null;
    stopCapture();
  } else {
    startMic();
  }
};

connect();
