// Wires the page: the model picker, the pad, uploads, the live channel, the network view, the
// inspector and the explanation panel. One `state` object holds what the page shows.

import { api, decodeArray, LiveChannel } from "./api.js";
import { drawLegend } from "./colors.js";
import { DrawingPad } from "./draw.js";
import { ExplainPanel } from "./explain.js";
import { Inspector } from "./inspector.js";
import { NetworkView } from "./network.js";
import { renderSteps } from "./preprocessing.js";
import { ReadingPanel } from "./reading.js";

const $ = (selector) => document.querySelector(selector);

const state = {
  detail: null,
  answer: null, // {input, layers: Map(name -> {shape, values, min, max}), probabilities, top}
  scale: "layer",
  seq: 0,
  shownSeq: 0, // the newest input whose answer is on screen: older answers are stale
  live: null,
  inspector: null,
  weights: new Map(),
  hovered: null,
  pendingMoves: [], // pen moves not yet reflected in the view: {seq, time}
};

// Pen-move-to-view latencies, for the benchmark and the browser tests.
window.convnetVis = { latencies: [], answers: 0 };

function showError(message) {
  const banner = $("#status");
  banner.textContent = message;
  banner.hidden = !message;
}

function setLiveStatus(status) {
  const badge = $("#live-status");
  badge.textContent = { live: "live", http: "HTTP only" }[status] || "reconnecting…";
  badge.classList.toggle("offline", status !== "live");
}

// --- answers --------------------------------------------------------------------------------
function decodeAnswer(answer) {
  const layers = new Map();
  for (const layer of answer.layers) {
    const { shape, data } = decodeArray(layer.activations);
    layers.set(layer.name, { name: layer.name, shape, values: data, min: layer.min, max: layer.max });
  }
  const input = decodeArray(answer.input);
  layers.set("input", { name: "input", shape: input.shape, values: input.data });
  return { input: { shape: input.shape, values: input.data }, layers, ...answer.prediction };
}

function render() {
  const answer = state.answer;
  if (!answer) return;
  const network = state.network;
  network.renderInput(answer.input);
  network.render([...answer.layers.values()].filter((layer) => layer.name !== "input"), answer.probabilities, state.scale);
  renderSeen(answer.input);
  const [best, second] = answer.top;
  $("#prediction").textContent = `${best.label}`;
  $("#prediction-detail").textContent = `${(best.probability * 100).toFixed(1)}%` + (second ? `, then ${second.label} (${(second.probability * 100).toFixed(1)}%)` : "");
  if (state.hovered) hover(state.hovered);
}

function renderSeen(input) {
  const canvas = $("#seen");
  const [height, width, channels] = input.shape;
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  const [lo, hi] = state.detail.input_range;
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < 3; c++) {
      const v = input.values[i * channels + (channels === 3 ? c : 0)];
      image.data[i * 4 + c] = ((v - lo) / (hi - lo)) * 255;
    }
    image.data[i * 4 + 3] = 255;
  }
  context.putImageData(image, 0, 0);
}

// --- the reference map -------------------------------------------------------------------
const CLASS_COLOURS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

async function loadMap(detail) {
  const card = $("#map-card");
  state.map = null;
  card.hidden = !detail.card.reference; // only models whose card names a reference set have a map
  if (card.hidden) return;
  $("#map-status").textContent = "computing the map of the reference images… (once per model, about 15 s)";
  $("#neighbours").replaceChildren();
  try {
    const map = await api.embedding(detail.id);
    if (state.detail !== detail) return;
    const { data } = decodeArray(map.points);
    state.map = { points: data, labels: map.labels, layer: map.layer };
    $("#map-status").textContent = `${map.labels.length} reference digits in ${map.layer}, by t-SNE; the ring is your input`;
    $("#map-legend").replaceChildren(...detail.classes.map((label, i) => {
      const key = document.createElement("span");
      key.style.setProperty("--swatch", CLASS_COLOURS[i % CLASS_COLOURS.length]);
      key.textContent = label;
      return key;
    }));
    drawMap();
    placeCurrent();
  } catch (error) {
    $("#map-status").textContent = error.detail || String(error);
  }
}

function drawMap(point = null) {
  const map = state.map;
  if (!map) return;
  const canvas = $("#embedding");
  const context = canvas.getContext("2d");
  const { points, labels } = map;
  if (!map.bounds) {
    let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
    for (let i = 0; i < labels.length; i++) {
      x0 = Math.min(x0, points[2 * i]);
      x1 = Math.max(x1, points[2 * i]);
      y0 = Math.min(y0, points[2 * i + 1]);
      y1 = Math.max(y1, points[2 * i + 1]);
    }
    map.bounds = { x0, x1, y0, y1 };
  }
  const { x0, x1, y0, y1 } = map.bounds;
  const pad = 8;
  const sx = (x) => pad + ((x - x0) / (x1 - x0 || 1)) * (canvas.width - 2 * pad);
  const sy = (y) => pad + ((y - y0) / (y1 - y0 || 1)) * (canvas.height - 2 * pad);
  context.fillStyle = "#0b0d12";
  context.fillRect(0, 0, canvas.width, canvas.height);
  for (let i = 0; i < labels.length; i++) {
    context.fillStyle = CLASS_COLOURS[labels[i] % CLASS_COLOURS.length];
    context.fillRect(sx(points[2 * i]) - 1, sy(points[2 * i + 1]) - 1, 2.5, 2.5);
  }
  if (point) {
    context.strokeStyle = "#fff";
    context.lineWidth = 3;
    context.beginPath();
    context.arc(sx(point[0]), sy(point[1]), 7, 0, 2 * Math.PI);
    context.stroke();
    canvas.dataset.point = point.map((v) => v.toFixed(2)).join(",");
  }
}

// The map and the neighbours follow the drawing at most every MAP_INTERVAL ms, one request
// pair at a time, so they never crowd out the drawing path's own answers.
const MAP_INTERVAL = 300;
let placing = false;
let placeAgain = false;
let lastPlaced = 0;
let placeTimer = null;
async function placeCurrent() {
  if (!state.map || !state.answer) return;
  if (placing) {
    placeAgain = true;
    return;
  }
  const wait = lastPlaced + MAP_INTERVAL - performance.now();
  if (wait > 0) {
    if (!placeTimer) placeTimer = setTimeout(() => ((placeTimer = null), placeCurrent()), wait);
    return;
  }
  placing = true;
  lastPlaced = performance.now();
  try {
    const pixels = state.explain.currentPixels();
    const [placed, near] = await Promise.all([api.place(state.detail.id, pixels), api.neighbours(state.detail.id, pixels)]);
    drawMap(placed.point);
    const strip = thumbnails(near.neighbors, (item) => `${item.label} · ${item.distance.toFixed(1)}`);
    strip.setAttribute("data-testid", "neighbours");
    $("#neighbours").replaceChildren(strip);
  } catch (error) {
    showError(error.detail || String(error));
  } finally {
    placing = false;
    if (placeAgain) {
      placeAgain = false;
      placeCurrent();
    }
  }
}

function receive(answer) {
  if (answer.seq !== undefined && answer.seq !== null) {
    if (answer.seq < state.shownSeq) return; // an older drawing answered late: never overwrite a newer view
    state.shownSeq = answer.seq;
  }
  if (answer.error) {
    showError(answer.error.detail);
    return;
  }
  state.answer = decodeAnswer(answer);
  render();
  placeCurrent();
  window.convnetVis.answers += 1;
  const seq = answer.seq;
  requestAnimationFrame(() => {
    // the view is painted: every pen move up to this answer's has landed
    const now = performance.now();
    const landed = state.pendingMoves.filter((move) => seq !== undefined && move.seq <= seq);
    state.pendingMoves = state.pendingMoves.filter((move) => !(seq !== undefined && move.seq <= seq));
    for (const move of landed) {
      window.convnetVis.latencies.push(now - move.time);
      performance.measure("pen-to-view", { start: move.time, end: now });
    }
  });
}

// --- drawing --------------------------------------------------------------------------------
let frameRequested = false;
function drawingChanged() {
  showError(""); // a new input: earlier messages no longer apply
  renderSteps($("#seen-steps"), null); // the steps shown were an upload's
  state.pendingMoves.push({ seq: state.seq + 1, time: performance.now() });
  if (frameRequested) return;
  frameRequested = true;
  requestAnimationFrame(() => {
    frameRequested = false;
    sendDrawing();
  });
}

function sendDrawing() {
  state.seq += 1;
  // Pending moves get the sequence number of the message that carries them.
  for (const move of state.pendingMoves) move.seq = Math.min(move.seq, state.seq);
  const message = {
    seq: state.seq,
    pixels: state.pad.pixels(56),
    preprocess: state.detail.kind === "digits" ? "digit" : "resize",
  };
  if (state.live && state.live.open) state.live.send(message);
  else postDrawing(message);
}

// Over plain HTTP, keep one request in flight and send only the newest drawing after it.
let httpBusy = false;
let httpNext = null;
function postDrawing(message) {
  if (httpBusy) {
    httpNext = message;
    return;
  }
  httpBusy = true;
  api
    .activationsForPixels(state.detail.id, message.pixels, message.preprocess)
    .then((answer) => receive({ ...answer, seq: message.seq }))
    .catch((error) => showError(error.detail))
    .finally(() => {
      httpBusy = false;
      if (httpNext) {
        const next = httpNext;
        httpNext = null;
        postDrawing(next);
      }
    });
}

// One digit's 28x28 field in [0, 1] (from "Read a number") -> the network view, as the model's input.
function showField(field) {
  const [height, width] = state.detail.input_shape;
  const rows = [];
  for (let y = 0; y < 28; y++) rows.push(Array.from(field.data.subarray(y * 28, y * 28 + 28)));
  const seq = ++state.seq;
  const preprocess = height === 28 && width === 28 ? "none" : "resize";
  renderSteps($("#seen-steps"), null);
  api
    .activationsForPixels(state.detail.id, rows, preprocess)
    .then((answer) => receive({ ...answer, seq }))
    .catch((error) => showError(error.detail || String(error)));
  $("#network").scrollIntoView({ behavior: "smooth", block: "nearest" });
}

async function upload(file) {
  if (!file) return;
  showError("");
  $("#upload-name").textContent = file.name;
  const seq = ++state.seq; // answers to drawings sent before this upload are now stale
  try {
    const answer = await api.activationsForFile(state.detail.id, file, state.detail.kind === "digits");
    receive({ ...answer, seq });
    if (seq >= state.shownSeq) renderSteps($("#seen-steps"), answer.preprocessing);
  } catch (error) {
    if (seq >= state.shownSeq) showError(error.detail || String(error));
  }
}

// --- inspector ------------------------------------------------------------------------------
function weightsFor(layer) {
  if (!["Conv2D", "Dense"].includes(layer.class_name)) return Promise.resolve(null);
  if (!state.weights.has(layer.name)) {
    const loading = api.weights(state.detail.id, layer.name).then((body) => ({
      kernel: decodeArray(body.kernel),
      bias: body.bias ? decodeArray(body.bias) : null,
    }));
    state.weights.set(layer.name, loading);
  }
  return state.weights.get(layer.name);
}

function hover(target) {
  state.hovered = target;
  const info = $("#info");
  if (!state.answer) return;
  if (target.layer.name === "input") {
    const input = state.answer.input;
    const v = input.values[(target.y * input.shape[1] + target.x) * input.shape[2]];
    info.innerHTML = `<p class="info-head"><b>input</b>, row ${target.y}, column ${target.x}</p><p>value = <b>${v.toFixed(3)}</b></p>`;
    state.network.highlight(target, []);
    return;
  }
  const values = (name) => state.answer.layers.get(name);
  const show = (weights) => {
    if (state.hovered !== target) return;
    info.innerHTML = state.inspector.describe(target, values, weights);
  };
  show(null);
  weightsFor(target.layer).then(show).catch((error) => showError(error.detail || String(error)));
  state.network.highlight(target, state.inspector.regions(target));
}

function leave() {
  state.hovered = null;
  state.network.highlight(null, []);
}

function thumbnails(items, caption) {
  const strip = document.createElement("div");
  strip.className = "thumbs";
  for (const item of items) {
    const figure = document.createElement("figure");
    const image = new Image();
    image.src = item.png;
    image.alt = `reference digit ${item.label}`;
    const text = document.createElement("figcaption");
    text.textContent = caption(item);
    figure.append(image, text);
    strip.append(figure);
  }
  return strip;
}

async function showTopExamples(layer, unit) {
  const box = $("#map-top");
  box.replaceChildren();
  if (!state.detail.card.reference) return;
  try {
    const top = await api.topExamples(state.detail.id, layer.name, unit);
    const title = document.createElement("p");
    title.className = "muted";
    title.textContent = "the reference images that excite it most:";
    const strip = thumbnails(top.examples, (item) => `${item.label} · ${item.activation.toFixed(2)}`);
    strip.setAttribute("data-testid", "top-examples");
    box.append(title, strip);
  } catch (error) {
    if (error.status !== 404) showError(error.detail || String(error));
  }
}

async function enlarge({ layer, channel }) {
  const dialog = $("#map-dialog");
  const data = state.answer && state.answer.layers.get(layer.name);
  const spatial = layer.spatial;
  $("#map-title").textContent = `${layer.name}, ${spatial ? "channel" : "unit"} ${channel}`;
  const big = $("#map-big");
  big.hidden = !spatial;
  const note = $("#map-filter");
  note.replaceChildren();
  $("#map-range").textContent = "";
  showTopExamples(layer, channel);
  if (!spatial) {
    if (!dialog.open) dialog.showModal();
    return;
  }
  const source = state.network.view(layer.name).canvases[channel];
  const context = big.getContext("2d");
  context.imageSmoothingEnabled = false;
  context.clearRect(0, 0, big.width, big.height);
  context.drawImage(source, 0, 0, big.width, big.height);
  if (data) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = channel; i < data.values.length; i += data.shape[2]) {
      lo = Math.min(lo, data.values[i]);
      hi = Math.max(hi, data.values[i]);
    }
    $("#map-range").textContent = `values from ${lo.toFixed(3)} to ${hi.toFixed(3)}`;
  }
  if (layer.class_name === "Conv2D" && layer.inbound[0] === "input") {
    // First-layer kernels are small enough to show as they are.
    const weights = await weightsFor(layer);
    const [kh, kw, cin, cout] = weights.kernel.shape;
    const canvas = document.createElement("canvas");
    canvas.width = kw;
    canvas.height = kh;
    canvas.className = "kernel";
    const image = canvas.getContext("2d").createImageData(kw, kh);
    let bound = 1e-12;
    for (let i = 0; i < kh * kw; i++) bound = Math.max(bound, Math.abs(weights.kernel.data[i * cin * cout + channel]));
    for (let i = 0; i < kh * kw; i++) {
      const w = weights.kernel.data[i * cin * cout + channel] / bound; // channel 0 of the input
      const v = 127.5 + w * 127.5;
      image.data.set([v, v, v, 255], i * 4);
    }
    canvas.getContext("2d").putImageData(image, 0, 0);
    const caption = document.createElement("p");
    caption.textContent = `its ${kh}×${kw} kernel (white positive, black negative)`;
    note.append(canvas, caption);
  }
  if (!dialog.open) dialog.showModal();
  // What this channel responds to: its filter pattern, by gradient ascent (computed or cached).
  const waiting = document.createElement("p");
  waiting.className = "muted";
  waiting.textContent = "computing its filter pattern…";
  note.append(waiting);
  try {
    const pattern = await api.filterPattern(state.detail.id, layer.name, channel);
    const image = new Image();
    image.src = pattern.png;
    image.alt = `filter pattern of ${layer.name} channel ${channel}`;
    image.className = "pattern";
    image.setAttribute("data-testid", "filter-pattern");
    waiting.textContent = `the input it responds to most (mean activation ${pattern.activation.toFixed(2)})`;
    note.append(image);
  } catch (error) {
    waiting.textContent = error.detail || String(error);
  }
}

async function showAtlas() {
  const layer = $("#atlas-layer").value;
  const progress = $("#atlas-progress");
  const button = $("#atlas-run");
  const result = $("#atlas-result");
  button.disabled = true;
  progress.hidden = false;
  progress.value = 0;
  result.replaceChildren();
  try {
    const atlas = await api.atlas(state.detail.id, layer, (done, total) => {
      progress.max = total;
      progress.value = done;
    });
    const image = new Image();
    image.src = atlas.png;
    image.alt = `filter patterns of every channel of ${layer}`;
    image.setAttribute("data-testid", "atlas");
    const caption = document.createElement("figcaption");
    caption.textContent = `${layer}: ${atlas.count} patterns, row by row from channel 0`;
    const figure = document.createElement("figure");
    figure.append(image, caption);
    result.append(figure);
  } catch (error) {
    showError(error.detail || String(error));
  } finally {
    button.disabled = false;
    progress.hidden = true;
  }
}

function fillAtlasLayers(detail) {
  const spatial = detail.layers.filter((layer) => layer.spatial && !layer.is_container);
  $("#atlas-layer").replaceChildren(...spatial.map((layer) => new Option(`${layer.name} (${layer.output_shape[2]})`, layer.name)));
  $("#atlas-result").replaceChildren();
}

// --- models ---------------------------------------------------------------------------------
async function loadModel(id) {
  try {
    const detail = await api.model(id);
    state.detail = detail;
    state.answer = null;
    state.weights = new Map();
    state.inspector = new Inspector(detail);
    state.network.setModel(detail);
    state.explain.setModel(detail);
    state.reading.setModel(detail);
    renderSteps($("#seen-steps"), null);
    fillAtlasLayers(detail);
    loadMap(detail);
    $("#model-description").textContent = detail.description;
    const url = new URL(location.href);
    url.searchParams.set("model", id);
    history.replaceState(null, "", url);
    if (state.live) state.live.close();
    // ?transport=http draws over plain HTTP requests: the benchmark's baseline for the live channel
    if (new URL(location.href).searchParams.get("transport") !== "http") {
      state.live = new LiveChannel(id, { onAnswer: receive, onStatus: setLiveStatus });
    } else {
      state.live = null;
      setLiveStatus("http");
    }
    sendDrawing();
  } catch (error) {
    showError(error.detail || String(error));
  }
}

async function start() {
  state.network = new NetworkView($("#network"), { onHover: hover, onLeave: leave, onSelectMap: enlarge });
  state.pad = new DrawingPad($("#pad"), { onChange: drawingChanged });
  state.explain = new ExplainPanel($("#explain"), {
    currentPixels: () => {
      if (!state.answer) return null;
      const { shape, values } = state.answer.input;
      const [lo, hi] = state.detail.input_range;
      const [height, width, channels] = shape;
      const rows = [];
      for (let y = 0; y < height; y++) {
        const row = [];
        for (let x = 0; x < width; x++) {
          const pixel = [];
          for (let c = 0; c < channels; c++) {
            pixel.push(Math.min(1, Math.max(0, (values[(y * width + x) * channels + c] - lo) / (hi - lo))));
          }
          row.push(pixel);
        }
        rows.push(row);
      }
      return rows;
    },
    onError: showError,
  });

  state.reading = new ReadingPanel($("#read"), { onOpen: showField, onError: showError });
  $("#clear").addEventListener("click", () => state.pad.clear());
  $("#eraser").addEventListener("change", (event) => (state.pad.erasing = event.target.checked));
  $("#brush").addEventListener("input", (event) => (state.pad.brush = Number(event.target.value)));
  $("#scale").addEventListener("change", (event) => {
    state.scale = event.target.value;
    render();
  });
  drawLegend($("#legend"), false);
  $("#file").addEventListener("change", (event) => upload(event.target.files[0]));
  const drop = $("#drop");
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("dragging");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("dragging"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("dragging");
    upload(event.dataTransfer.files[0]);
  });
  $("#map-close").addEventListener("click", () => $("#map-dialog").close());
  $("#atlas-run").addEventListener("click", showAtlas);

  try {
    const { models } = await api.models();
    if (!models.length) {
      showError("This server serves no models. Put a .keras file in its models folder and restart it.");
      return;
    }
    const picker = $("#model");
    picker.replaceChildren(...models.map((model) => new Option(`${model.name} (${model.parameters.toLocaleString()} parameters)`, model.id)));
    const wanted = new URL(location.href).searchParams.get("model");
    picker.value = models.some((model) => model.id === wanted) ? wanted : models[0].id;
    picker.addEventListener("change", () => loadModel(picker.value));
    await loadModel(picker.value);
  } catch (error) {
    showError(error.detail || String(error));
  }
}

start();
