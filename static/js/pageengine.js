// The live view computed in the page: the model's forward pass (and the pad's digit
// normalisation) in a Web Worker (engine/worker.js), for the models the server says the page can
// run (the model detail's `browser`). One drawing is in the worker at a time; while it computes,
// only the newest later drawing waits, so a slow device skips stale drawings instead of queueing.

import { api } from "./api.js";

const LOAD_TIMEOUT_MS = 15000;

// Whether the page normalises this model's pad drawings itself: a digits model taking the 28x28
// field as it is (any other input size goes through the server's preprocessing).
export function padRunsInPage(detail) {
  const [height, width, channels] = detail.input_shape;
  return detail.kind === "digits" && height === 28 && width === 28 && channels === 1;
}

export class PageEngine {
  // The engine for `detail`, or null when the page cannot run it (then the server draws the view).
  static async start(detail, { onAnswer, onServer }) {
    if (!detail.browser || !detail.browser.supported || !padRunsInPage(detail) || typeof Worker === "undefined") return null;
    const spec = await api.pageGraph(detail.id);
    const weights = await api.pageWeights(spec.weights_url);
    const weightBytes = weights.byteLength; // the buffer moves to the worker
    const worker = new Worker(new URL("./engine/worker.js", import.meta.url), { type: "module" });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the page's engine did not start")), LOAD_TIMEOUT_MS);
      worker.onmessage = ({ data }) => {
        clearTimeout(timer);
        if (data.type === "loaded") resolve();
        else reject(new Error(data.error || "the page's engine did not start"));
      };
      worker.onerror = (event) => {
        clearTimeout(timer);
        reject(new Error(event.message || "the page's engine could not be loaded"));
      };
      worker.postMessage({ type: "load", spec, weights }, [weights]);
    }).catch((error) => {
      worker.terminate();
      throw error;
    });
    return new PageEngine(worker, spec, weightBytes, { onAnswer, onServer });
  }

  constructor(worker, spec, weightBytes, { onAnswer, onServer }) {
    this.worker = worker;
    this.spec = spec;
    this.weightBytes = weightBytes;
    this.busy = false;
    this.next = null;
    worker.onmessage = ({ data }) => {
      this.busy = false;
      if (data.type === "answer") onAnswer({ ...data, timing: { posted: this.postedAt, ...data.timing, got: performance.timeOrigin + performance.now() } });
      else if (data.type === "server") onServer(data.seq);
      if (this.next) this.post(this.next);
    };
  }

  // grey: the pad's {shape, bytes}; copied, so the pad may go on drawing.
  draw(seq, grey) {
    this.post({ type: "drawing", seq, grey: { shape: grey.shape, bytes: grey.bytes.slice() } });
  }

  post(message) {
    if (this.busy) {
      this.next = message;
      return;
    }
    this.next = null;
    this.busy = true;
    this.postedAt = performance.timeOrigin + performance.now(); // the worker's clock has another origin
    this.worker.postMessage(message);
  }

  close() {
    this.worker.terminate();
  }
}
