// The only module that talks to the server: the public REST API and the live channel.

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
    this.detail = detail;
  }
}

// Whether the server answers, as the page last saw it. A request that cannot reach it marks it
// away and starts a probe of /api/health every PROBE_MS; the first answer (from the probe or any
// request) marks it back. Views listen (onServerChange) to say so and to catch up.
const PROBE_MS = 2000;
export const server = {
  away: false,
  listeners: [],
  onChange(listener) {
    this.listeners.push(listener);
  },
  set(away) {
    if (away === this.away) return;
    this.away = away;
    for (const listener of this.listeners) listener(away);
    if (away) this.probe();
  },
  probe() {
    setTimeout(async () => {
      if (!this.away) return;
      try {
        const response = await fetch("/api/health", { cache: "no-store" });
        if (response.ok) return this.set(false);
      } catch (error) {
        // still away
      }
      this.probe();
    }, PROBE_MS);
  },
};

// Only the API's answers say whether the server is there: a static file may come from the
// browser's own cache with no server at all.
async function reach(path, options) {
  const api = path.startsWith("/api/");
  try {
    const response = await fetch(path, options);
    if (api) server.set(response.headers.has("x-offline-copy")); // the service worker's copy: the server is away
    return response;
  } catch (error) {
    if (api) server.set(true);
    throw new ApiError(0, "The server cannot be reached. Is it still running?");
  }
}

async function request(path, options = {}) {
  const response = await reach(path, options);
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(response.status, (body && body.detail) || `${response.status} ${response.statusText}`);
  }
  return body;
}

// A result computed once on the server (a model's t-SNE map) answers 202 with its progress and a
// Retry-After header until it is ready: { pending: true, progress, retryAfter } or { pending: false, body }.
async function pendingOr(path, options = {}) {
  const response = await reach(path, options);
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(response.status, (body && body.detail) || `${response.status} ${response.statusText}`);
  }
  if (response.status === 202) {
    return { pending: true, progress: body, retryAfter: Number(response.headers.get("retry-after")) || 2 };
  }
  return { pending: false, body };
}

function layerPath(name) {
  return name.split("/").map(encodeURIComponent).join("/");
}

function activationQuery({ dtype = "float16", max_side, layers, preprocess, explain } = {}) {
  const query = new URLSearchParams({ dtype });
  if (explain) query.set("explain_preprocessing", "true");
  if (max_side) query.set("max_side", max_side);
  if (layers) query.set("layers", layers.join(","));
  if (preprocess) query.set("preprocess", preprocess);
  return query;
}

function postJson(path, payload) {
  return request(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(payload),
  });
}

export const api = {
  // A bundled static file (a sample image), as a Blob.
  async asset(path) {
    const response = await reach(path);
    if (!response.ok) throw new ApiError(response.status, `${path}: ${response.status} ${response.statusText}`);
    return response.blob();
  },
  // The lesson mode's course (static/lessons/course.json), served with the page.
  course: () => request("/static/lessons/course.json"),
  models: () => request("/api/models"),
  methods: () => request("/api/methods"),
  model: (id) => request(`/api/models/${encodeURIComponent(id)}`),
  // The model as the page's engine runs it, and its weights (one binary download, revalidated by ETag).
  pageGraph: (id) => request(`/api/models/${encodeURIComponent(id)}/browser`),
  async pageWeights(url) {
    const response = await reach(url);
    if (!response.ok) throw new ApiError(response.status, `${url}: ${response.status} ${response.statusText}`);
    return response.arrayBuffer();
  },
  weights: (id, layer) => request(`/api/models/${encodeURIComponent(id)}/layers/${layerPath(layer)}/weights`),

  // options: {dtype (default float16), max_side, layers: [names], explain (the digit
  // preprocessing's steps as pictures: explain_preprocessing=true)} as in docs/api.md
  activationsForFile(id, file, options = {}) {
    const form = new FormData();
    form.append("image", file);
    return request(`/api/models/${encodeURIComponent(id)}/activations?${activationQuery(options)}`, { method: "POST", body: form });
  },

  read(id, file) {
    const form = new FormData();
    form.append("image", file);
    return request(`/api/models/${encodeURIComponent(id)}/read?dtype=float16`, { method: "POST", body: form });
  },

  activationsForPixels(id, pixels, preprocess = "none", options = {}) {
    return postJson(`/api/models/${encodeURIComponent(id)}/activations?${activationQuery({ ...options, preprocess })}`, { pixels });
  },

  filterPattern: (id, layer, index) =>
    request(`/api/models/${encodeURIComponent(id)}/layers/${layerPath(layer)}/filters/${index}?dtype=float16`),

  // A whole layer's patterns, with progress(done, total, preview) while the server computes them;
  // a few progress events carry `preview`, the atlas as it forms (a PNG data URL).
  atlas(id, layer, onProgress) {
    const url = `/api/models/${encodeURIComponent(id)}/layers/${layerPath(layer)}/filters?stream=true&dtype=float16`;
    return new Promise((resolve, reject) => {
      const source = new EventSource(url);
      source.addEventListener("progress", (event) => {
        const { done, total, preview } = JSON.parse(event.data);
        onProgress(done, total, preview);
      });
      source.addEventListener("result", (event) => {
        source.close();
        resolve(JSON.parse(event.data));
      });
      source.addEventListener("error", (event) => {
        source.close();
        const detail = event.data ? JSON.parse(event.data).detail : "The atlas could not be computed: the server did not answer.";
        reject(new ApiError(event.data ? JSON.parse(event.data).status : 0, detail));
      });
    });
  },

  topExamples: (id, layer, unit, k = 8) =>
    request(`/api/models/${encodeURIComponent(id)}/layers/${layerPath(layer)}/units/${unit}/top?k=${k}`),
  embedding: (id) => pendingOr(`/api/models/${encodeURIComponent(id)}/embedding`),
  // nearest: also that many nearest reference images, in the same request
  place: (id, pixels, nearest = 0) =>
    pendingOr(`/api/models/${encodeURIComponent(id)}/embedding/place?preprocess=none&nearest=${nearest}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ pixels }),
    }),

  // endpoint: gradcam | occlusion | saliency; the model input is sent as it is (preprocess=none).
  explain(id, endpoint, params, pixels) {
    const query = new URLSearchParams({ ...params, preprocess: "none" });
    return postJson(`/api/models/${encodeURIComponent(id)}/${endpoint}?${query}`, { pixels });
  },
};

// --- arrays -------------------------------------------------------------------------------
const HALF = (() => {
  // float16 bit pattern -> float32 value, for all 65536 patterns
  const table = new Float32Array(65536);
  for (let bits = 0; bits < 65536; bits++) {
    const sign = bits & 0x8000 ? -1 : 1;
    const exponent = (bits >> 10) & 0x1f;
    const fraction = bits & 0x3ff;
    if (exponent === 0) table[bits] = sign * 2 ** -14 * (fraction / 1024);
    else if (exponent === 31) table[bits] = fraction ? NaN : sign * Infinity;
    else table[bits] = sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
  }
  return table;
})();

function base64Bytes(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

// A contract array object -> {shape, data: Float32Array} (row-major, channels last). Its data is
// base64, a list, or (a live channel's binary answer) `view`: where its bytes lie in the frame.
export function decodeArray(obj) {
  let values;
  if (Array.isArray(obj.data)) {
    values = Float32Array.from(obj.data.flat(Infinity));
  } else {
    const bytes = obj.view ? new Uint8Array(obj.view.buffer, obj.view.start, obj.view.length) : base64Bytes(obj.data);
    if (obj.dtype === "float32") values = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
    else if (obj.dtype === "float16") {
      const half = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
      values = new Float32Array(half.length);
      for (let i = 0; i < half.length; i++) values[i] = HALF[half[i]];
    } else {
      values = new Float32Array(bytes.length);
      for (let i = 0; i < bytes.length; i++) values[i] = bytes[i] * obj.scale + obj.offset;
    }
  }
  return { shape: obj.shape, data: values };
}

// --- live channel -------------------------------------------------------------------------
const textEncoder = new TextEncoder();

const textDecoder = new TextDecoder();

// A binary answer (docs/api.md): the JSON after its uint32 length, each array object's
// `bytes: [start, length]` (from the end of the JSON, 4-aligned) turned into a `view` for decodeArray.
export function readBinaryAnswer(buffer) {
  const size = new DataView(buffer).getUint32(0, true);
  const answer = JSON.parse(textDecoder.decode(new Uint8Array(buffer, 4, size)));
  const place = (node) => {
    if (!node || typeof node !== "object") return;
    if (Array.isArray(node.bytes) && node.shape) {
      node.view = { buffer, start: 4 + size + node.bytes[0], length: node.bytes[1] };
      return;
    }
    for (const value of Object.values(node)) place(value);
  };
  place(answer.input);
  for (const layer of answer.layers || []) place(layer.activations);
  return answer;
}

// The binary frame (docs/api.md): uint32 little-endian header length, the JSON header, the pixel bytes.
export function binaryFrame(header, bytes) {
  const json = textEncoder.encode(JSON.stringify(header));
  const frame = new Uint8Array(4 + json.length + bytes.length);
  new DataView(frame.buffer).setUint32(0, json.length, true);
  frame.set(json, 4);
  frame.set(bytes, 4 + json.length);
  return frame;
}

// Sends drawing updates over a WebSocket; the server answers the newest and drops stale ones.
export class LiveChannel {
  constructor(modelId, { onAnswer, onStatus }) {
    this.modelId = modelId;
    this.onAnswer = onAnswer;
    this.onStatus = onStatus;
    this.pending = null;
    this.closed = false;
    this.retry = 250;
    this.connect();
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    // answers=binary: the arrays come as bytes, read in place (no JSON strings of base64 to parse and decode)
    const url = `${scheme}://${location.host}/api/models/${encodeURIComponent(this.modelId)}/live?dtype=float16&answers=binary`;
    this.socket = new WebSocket(url);
    this.socket.binaryType = "arraybuffer";
    this.socket.onopen = () => {
      this.retry = 250;
      this.onStatus("live");
      // after a drop, the newest drawing again: the view must show it, not the one before the drop
      if (!this.pending && this.dropped) this.pending = this.last;
      this.dropped = false;
      if (this.pending) this.flush();
    };
    this.socket.onmessage = (event) => this.onAnswer(typeof event.data === "string" ? JSON.parse(event.data) : readBinaryAnswer(event.data));
    this.socket.onclose = () => {
      if (this.closed) return;
      this.dropped = true;
      this.onStatus("offline");
      setTimeout(() => !this.closed && this.connect(), this.retry);
      this.retry = Math.min(this.retry * 2, 5000);
    };
    this.socket.onerror = () => {};
  }

  get open() {
    return this.socket && this.socket.readyState === WebSocket.OPEN;
  }

  // message: the JSON fields; grey ({shape, bytes}, optional): pixels sent as a binary frame.
  send(message, grey = null) {
    this.pending = grey ? binaryFrame({ ...message, shape: grey.shape }, grey.bytes) : JSON.stringify(message);
    if (this.open) this.flush();
  }

  flush() {
    this.socket.send(this.pending);
    this.last = this.pending;
    this.pending = null;
  }

  close() {
    this.closed = true;
    if (this.socket) this.socket.close();
  }
}

// --- lessons (issue 16) -------------------------------------------------------------------
// Exact float32 arrays: the lessons compare their own arithmetic with the model's values.
const modelPath = (id) => `/api/models/${encodeURIComponent(id)}`;
export const lessonsApi = {
  activations: (id, layers, pixels) =>
    postJson(`${modelPath(id)}/activations?preprocess=none&layers=${layers.map(encodeURIComponent).join(",")}`, { pixels }),
  weights: (id, layer) => request(`${modelPath(id)}/layers/${layerPath(layer)}/weights`),
  kernelPresets: (id) => request(`${modelPath(id)}/kernel/presets`),
  kernel: (id, pixels, options) => postJson(`${modelPath(id)}/kernel?preprocess=none`, { pixels, options }),
  pool: (id, pixels, params) => postJson(`${modelPath(id)}/pool?${new URLSearchParams({ ...params, preprocess: "none" })}`, { pixels }),
  sweep: (id, pixels, params) => postJson(`${modelPath(id)}/sweep?${new URLSearchParams({ ...params, preprocess: "none" })}`, { pixels }),
  summary: (id) => request(`${modelPath(id)}/summary`),
};
