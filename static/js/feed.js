// The input's way to the server and the answers' way back: drawings over the live channel (or
// one HTTP request at a time with ?transport=http), files over HTTP; stale answers are dropped so
// a late answer never overwrites a newer view. Also times each pen move to the painted view.

import { api, decodeArray, LiveChannel } from "./api.js";

// Pen-move-to-view latencies, for the benchmark and the browser tests: `latencies` to the moment
// the view's canvases hold the answer, `frames` to the next animation frame after it (when the
// compositor shows it).
// `files`: from a file handed to the feed to its answer drawn (uploads, samples, the camera).
window.convnetVis = { latencies: [], frames: [], files: [], answers: 0 };
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
  setModel(detail, options = {}) {
    this.detail = detail;
    this.options = options;
    if (this.live) this.live.close();
    this.live = null;
    // ?transport=http draws over plain HTTP requests: the benchmark's baseline for the live channel
    if (new URL(location.href).searchParams.get("transport") !== "http") {
      this.live = new LiveChannel(detail.id, { onAnswer: (answer) => this.receive(answer), onStatus: this.onStatus });
    } else this.onStatus("http");
  }

  // A pen move: send the newest drawing at most once per animation frame. drawing: {rows(), grey()}.
  // The first change after a pause goes at once: a pointerdown is not aligned to frames as moves
  // are, and waiting for the next frame after an idle pad made each stroke's first answer the
  // slowest (p50 23 ms against 11 ms for the moves after it).
  drawingChanged(drawing) {
    this.drawing = drawing;
    const now = performance.now();
    this.pending.push({ seq: this.seq + 1, time: now });
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
    const message = { seq: this.seq, preprocess: this.detail.kind === "digits" ? "digit" : "resize", ...this.options };
    // the live channel takes the pixels as bytes (a binary frame): no JSON numbers to write or parse
    if (this.live && this.live.open) this.live.send(message, this.drawing.grey());
    else this.post({ ...message, pixels: this.drawing.rows() });
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
      .catch((error) => this.onError(error.detail || String(error)))
      .finally(() => {
        this.httpBusy = false;
        if (this.httpNext) {
          const next = this.httpNext;
          this.httpNext = null;
          this.post(next);
        }
      });
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
    this.onAnswer(decodeAnswer(answer));
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
