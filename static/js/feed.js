// The input's way to the view: drawings computed in the page (pageengine.js) for the models it
// can run, else over the live channel (or one HTTP request at a time with ?transport=http); files
// over HTTP; stale answers are dropped so a late answer never overwrites a newer view. Also times
// each pen move to the painted view. ?engine=server keeps drawings on the server (the benchmark's
// comparison, and a way round a page engine that misbehaves).

import { api, decodeArray, LiveChannel } from "./api.js";
import { PageEngine } from "./pageengine.js";

// Pen-move-to-view latencies, for the benchmark and the browser tests: `latencies` to the moment
// the view's canvases hold the answer, `frames` to the next animation frame after it (when the
// compositor shows it).
// `files`: from a file handed to the feed to its answer drawn (uploads, samples, the camera).
// `computes`: the page engine's time per drawing (normalisation and forward pass, in its worker);
// `stages`: each drawing's way through the worker, {posted, began, sent, got} in ms since the epoch
// (posted to the worker, taken by it, answered, and the answer taken by the page).
// `engine`: where drawings are computed ("browser" or "server"), and the weights' bytes.
window.convnetVis = { latencies: [], frames: [], files: [], computes: [], stages: [], answers: 0, engine: null };
const FRAME_MS = 16; // about one 60 Hz frame: drawings are sent at most this often

export function decodeAnswer(answer) {
  performance.mark("decode-start");
  const layers = new Map();
  for (const layer of answer.layers) {
    const { shape, data } = decodeArray(layer.activations);
    layers.set(layer.name, { name: layer.name, shape, values: data, min: layer.min, max: layer.max, fullShape: layer.full_shape || shape });
  }
  const input = decodeArray(answer.input);
  layers.set("input", { name: "input", shape: input.shape, values: input.data });
  performance.measure("decode", "decode-start");
  return { input: { shape: input.shape, values: input.data }, layers, preprocessing: answer.preprocessing || null, ...answer.prediction };
}

// The server's `prediction` (app/encoding.py prediction_payload) from the page's probabilities:
// the top five, best first (ties in class order), and for independent labels every one above 0.5.
export function predictionOf(probabilities, detail) {
  const order = [...probabilities.keys()].sort((a, b) => probabilities[b] - probabilities[a] || a - b);
  const entry = (index) => ({ index, label: detail.classes[index], probability: probabilities[index] });
  const prediction = { probabilities: Array.from(probabilities), top: order.slice(0, 5).map(entry) };
  if (detail.head === "multilabel") prediction.positive = order.filter((i) => probabilities[i] > 0.5).map(entry);
  return prediction;
}

// A worker's answer -> the decoded answer the views render (as decodeAnswer makes of the server's).
function pageAnswer(answer, detail) {
  const layers = new Map();
  for (const layer of answer.layers) layers.set(layer.name, { ...layer, fullShape: layer.shape });
  layers.set("input", { name: "input", shape: answer.input.shape, values: answer.input.values });
  return { input: answer.input, layers, preprocessing: null, computedIn: "browser", ...predictionOf(answer.probabilities, detail) };
}

export class Feed {
  constructor({ onAnswer, onError, onStatus }) {
    this.onAnswer = onAnswer; // (decoded answer) renders it synchronously
    this.onError = onError;
    this.onStatus = onStatus;
    this.seq = 0;
    this.shownSeq = 0; // the newest input whose answer is on screen: older answers are stale
    this.pending = []; // pen moves not yet reflected in the view: {seq, time}
    this.frameRequested = false;
    this.lastSent = -Infinity;
    this.httpBusy = false;
    this.httpNext = null;
    this.live = null;
  }

  // options: extra activation options for every answer ({max_side, dtype} for an overview).
  // Resolves once drawings have their way: the page's engine started, or the live channel opened.
  async setModel(detail, options = {}) {
    this.detail = detail;
    this.options = options;
    if (this.live) this.live.close();
    if (this.engine) this.engine.close();
    this.live = null;
    this.engine = null;
    this.blankAnswer = null; // the page engine's answer to a cleared pad, for this model
    this.blankSeq = null;
    const params = new URL(location.href).searchParams;
    if (params.get("engine") !== "server" && !Object.keys(options).length) {
      try {
        const engine = await PageEngine.start(detail, {
          onAnswer: (answer) => this.receiveFromPage(answer, engine),
          onServer: (seq) => this.post(this.serverMessage(seq)),
        });
        if (this.detail !== detail) {
          if (engine) engine.close(); // another model was picked meanwhile
          return;
        }
        this.engine = engine;
      } catch (error) {
        console.warn(`The page's engine did not start; the server draws the view: ${error}`);
      }
    }
    window.convnetVis.engine = this.engine ? { computedIn: "browser", weightBytes: this.engine.weightBytes } : { computedIn: "server" };
    if (this.engine) this.onStatus("browser");
    // ?transport=http draws over plain HTTP requests: the benchmark's baseline for the live channel
    else if (params.get("transport") !== "http") {
      this.live = new LiveChannel(detail.id, { onAnswer: (answer) => this.receive(answer), onStatus: this.onStatus });
    } else this.onStatus("http");
  }

  // Whether drawings are answered by the page's engine (in a few ms), not the server.
  computesInPage() {
    return Boolean(this.engine);
  }

  // A pen move: send the newest drawing at most once per animation frame. drawing: {rows(), grey()}.
  // The first change after a pause goes at once: a pointerdown is not aligned to frames as moves
  // are, and waiting for the next frame after an idle pad made each stroke's first answer the
  // slowest (p50 23 ms against 11 ms for the moves after it).
  drawingChanged(drawing) {
    this.drawing = drawing;
    window.convnetVis.drawing = drawing; // the tests' and the benchmark's view of the pad
    const now = performance.now();
    this.pending.push({ seq: this.seq + 1, time: now });
    if (this.engine) {
      // the worker takes one drawing at a time and keeps only the newest waiting: no frame pacing
      this.seq += 1;
      const grey = drawing.grey();
      if (grey.bytes.every((b) => b === 0)) {
        // a cleared pad: its answer (the biases' guess) is the same every time, so after the first
        // it is shown at once. (Sent to the worker, it would wait for the frame after the click:
        // the browser paints a click's frame before it runs other work.)
        if (this.blankAnswer) {
          this.receive({ seq: this.seq, decoded: this.blankAnswer });
          return;
        }
        this.blankSeq = this.seq;
      }
      this.engine.draw(this.seq, grey);
      return;
    }
    if (this.frameRequested) return;
    if (now - this.lastSent >= FRAME_MS) {
      this.sendDrawing();
      return;
    }
    this.frameRequested = true;
    requestAnimationFrame(() => {
      this.frameRequested = false;
      this.sendDrawing();
    });
  }

  sendDrawing() {
    this.lastSent = performance.now();
    this.seq += 1;
    for (const move of this.pending) move.seq = Math.min(move.seq, this.seq); // moves ride with this message
    this.sentAt = { seq: this.seq, time: performance.now() };
    const message = { seq: this.seq, preprocess: this.preprocess(), ...this.options };
    // the live channel takes the pixels as bytes (a binary frame): no JSON numbers to write or parse;
    // while it reconnects it keeps the newest drawing and sends it once open
    if (this.live) this.live.send(message, this.drawing.grey());
    else this.post({ ...message, pixels: this.drawing.rows() });
  }

  preprocess() {
    return this.detail.kind === "digits" ? "digit" : "resize";
  }

  // A drawing the page's engine does not normalise, for the server (over HTTP: no live channel is open).
  serverMessage(seq) {
    return { seq, preprocess: this.preprocess(), pixels: this.drawing.rows() };
  }

  receiveFromPage(answer, engine) {
    if (engine !== this.engine) return; // an answer of the model shown before
    window.convnetVis.computes.push(answer.computeMs);
    window.convnetVis.stages.push(answer.timing);
    const decoded = pageAnswer(answer, this.detail);
    if (answer.seq === this.blankSeq) this.blankAnswer = decoded;
    this.receive({ seq: answer.seq, decoded });
  }

  // Over plain HTTP, keep one request in flight and send only the newest drawing after it.
  post(message) {
    if (this.httpBusy) {
      this.httpNext = message;
      return;
    }
    this.httpBusy = true;
    api
      .activationsForPixels(this.detail.id, message.pixels, message.preprocess, this.options)
      .then((answer) => this.receive({ ...answer, seq: message.seq }))
      .catch((error) => {
        // the server is away (the header says so): the newest drawing goes again when it returns
        if (error.status === 0) this.unsent = message;
        else this.onError(error.detail || String(error));
      })
      .finally(() => {
        this.httpBusy = false;
        if (this.httpNext) {
          const next = this.httpNext;
          this.httpNext = null;
          this.post(next);
        }
      });
  }

  // The server is back: a drawing it missed is answered now, unless a newer input is on screen.
  serverBack() {
    const message = this.unsent;
    this.unsent = null;
    if (message && message.seq >= this.shownSeq && message.seq === this.seq) this.post(message);
  }

  // Model-input pixels sent once over HTTP (a digit read from a picture of a number).
  async sendPixels(rows, preprocess) {
    const seq = ++this.seq;
    try {
      const answer = await api.activationsForPixels(this.detail.id, rows, preprocess, this.options);
      this.receive({ ...answer, seq });
    } catch (error) {
      if (seq >= this.shownSeq) this.onError(error.detail || String(error));
    }
  }

  async sendFile(file) {
    const seq = ++this.seq; // answers to drawings sent before this file are now stale
    const start = performance.now();
    try {
      // digit models: the preprocessing's steps too, shown under "what the model sees"
      const options = { ...this.options, explain: this.detail.kind === "digits" };
      const answer = await api.activationsForFile(this.detail.id, file, options);
      this.receive({ ...answer, seq });
      window.convnetVis.files.push(performance.now() - start);
    } catch (error) {
      if (seq >= this.shownSeq) this.onError(error.detail || String(error));
    }
  }

  receive(answer) {
    if (this.sentAt && answer.seq === this.sentAt.seq) performance.measure("round-trip", { start: this.sentAt.time, end: performance.now() });
    if (answer.seq !== undefined && answer.seq !== null) {
      if (answer.seq < this.shownSeq) return; // an older input answered late: never overwrite a newer view
      this.shownSeq = answer.seq;
    }
    if (answer.error) {
      this.onError(answer.error.detail);
      return;
    }
    const decoded = answer.decoded || decodeAnswer(answer);
    this.onAnswer(decoded);
    window.convnetVis.answer = decoded;
    window.convnetVis.answers += 1;
    const seq = answer.seq;
    const now = performance.now();
    const landed = this.pending.filter((move) => seq !== undefined && move.seq <= seq);
    this.pending = this.pending.filter((move) => !(seq !== undefined && move.seq <= seq));
    for (const move of landed) {
      window.convnetVis.latencies.push(now - move.time);
      performance.measure("pen-to-view", { start: move.time, end: now });
    }
    requestAnimationFrame(() => {
      const frame = performance.now();
      for (const move of landed) window.convnetVis.frames.push(frame - move.time);
    });
  }
}
