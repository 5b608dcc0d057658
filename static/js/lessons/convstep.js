// The convolution step: how one cell of a Conv2D (or pooling) feature map is computed, animated.
// The window slides over the layer's input at the layer's own stride, padding and dilation; each
// step shows the patch, the element-wise products, their sum, + bias and the activation, and fills
// the cell of the output map. Computed here from the public weights and activations (float32), and
// compared with the value the model computed.

import { decodeArray, lessonsApi } from "../api.js";
import { element, errorText, fmt, grid, paintMap, range } from "./util.js";

const ACTIVATIONS = {
  relu: (z) => Math.max(0, z),
  linear: (z) => z,
  sigmoid: (z) => 1 / (1 + Math.exp(-z)),
  tanh: Math.tanh,
  relu6: (z) => Math.min(6, Math.max(0, z)),
};
const MAX_CHANNELS_SHOWN = 64;
const CELL = 8; // css pixels per cell of the small input maps

export const steppable = (layer) =>
  layer && layer.spatial && (layer.class_name === "Conv2D" || /^(Max|Average)Pooling2D$/.test(layer.class_name));

// Where the window of output cell (y, x) starts, and how it steps, for a layer between two shapes.
export function geometry(layer, inShape) {
  const config = layer.config;
  const size = config.kernel_size || config.pool_size;
  const strides = config.strides || size;
  const dilation = config.dilation_rate || [1, 1];
  const [outH, outW] = layer.output_shape;
  const pad = [0, 1].map((axis) => {
    if (config.padding !== "same") return 0;
    const span = (size[axis] - 1) * dilation[axis] + 1;
    return Math.floor(Math.max((layer.output_shape[axis] - 1) * strides[axis] + span - inShape[axis], 0) / 2);
  });
  return { size, strides, dilation, pad, outH, outW };
}

export class ConvStepView {
  constructor(root, { current }) {
    this.root = root;
    this.current = current;
    this.timer = null;
    const $ = (id) => root.querySelector(`[data-cs=${id}]`);
    this.el = {
      layer: $("layer"), channel: $("channel"), row: $("row"), col: $("col"), go: $("go"),
      play: $("play"), step: $("step"), end: $("end"), reset: $("reset"), speed: $("speed"), hovered: $("hovered"),
      inputs: $("inputs"), detail: $("detail"), sum: $("sum"), output: $("output"), status: $("status"), title: $("title"),
    };
    this.el.go.addEventListener("click", () => this.showFromControls());
    this.el.play.addEventListener("click", () => (this.timer ? this.pause() : this.play()));
    this.el.step.addEventListener("click", () => (this.pause(), this.step()));
    this.el.end.addEventListener("click", () => (this.pause(), this.toEnd()));
    this.el.reset.addEventListener("click", () => (this.pause(), this.reset()));
    this.el.speed.addEventListener("input", () => this.timer && (this.pause(), this.play()));
    this.el.hovered.addEventListener("click", () => {
      const button = document.querySelector("#info [data-how]");
      if (button) this.show(targetOf(button));
      else this.el.status.textContent = "Hover a cell of a convolution or pooling layer in the network first.";
    });
    const jump = (event) => {
      if (!this.data) return;
      const rect = this.el.output.getBoundingClientRect();
      const x = Math.floor(((event.clientX - rect.left) / rect.width) * this.geo.outW);
      const y = Math.floor(((event.clientY - rect.top) / rect.height) * this.geo.outH);
      if (x >= 0 && y >= 0 && x < this.geo.outW && y < this.geo.outH) this.goTo(y * this.geo.outW + x);
    };
    this.el.output.addEventListener("click", jump);
    this.el.output.addEventListener("pointermove", (event) => event.buttons && jump(event));
    window.convnetVisLessons = window.convnetVisLessons || {};
    window.convnetVisLessons.convStep = this;
  }

  setModel(detail) {
    this.pause();
    this.detail = detail;
    this.data = null;
    const layers = detail.layers.filter(steppable);
    this.el.layer.replaceChildren(...layers.map((l) => new Option(`${l.name} (${l.class_name})`, l.name)));
    this.el.inputs.replaceChildren();
    this.el.detail.replaceChildren();
    this.el.sum.textContent = "";
    this.el.status.textContent = layers.length ? "" : "This model has no Conv2D or pooling layer to step through.";
  }

  showFromControls() {
    this.show({
      layer: this.el.layer.value,
      channel: Number(this.el.channel.value) || 0,
      y: Number(this.el.row.value) || 0,
      x: Number(this.el.col.value) || 0,
    });
  }

  // target: {layer: name, y, x, channel}
  async show(target) {
    this.pause();
    const { detail, pixels } = this.current();
    const layer = detail && detail.layers.find((l) => l.name === target.layer);
    if (!steppable(layer)) {
      this.el.status.textContent = `${target.layer} is not a Conv2D or pooling layer.`;
      return;
    }
    const input = pixels();
    if (!input) return;
    this.el.status.textContent = "loading…";
    try {
      const before = layer.inbound[0];
      const names = before === "input" ? [layer.name] : [before, layer.name];
      const [answer, weights] = await Promise.all([
        lessonsApi.activations(detail.id, names, input),
        layer.class_name === "Conv2D" ? this.weightsOf(detail.id, layer.name) : null,
      ]);
      const of = (name) => decodeArray(answer.layers.find((l) => l.name === name).activations);
      const inputMap = before === "input" ? decodeArray(answer.input) : of(before);
      const output = of(layer.name);
      const channels = output.shape[2];
      const channel = Math.min(Math.max(0, target.channel), channels - 1);
      this.layer = layer;
      this.data = { input: inputMap, output, weights, channel, before };
      this.geo = geometry(layer, inputMap.shape);
      this.shownChannel = layer.class_name === "Conv2D" ? 0 : channel;
      this.computed = new Float32Array(this.geo.outH * this.geo.outW).fill(NaN);
      this.bounds = range(output.data, channel, channels, this.geo.outH * this.geo.outW);
      Object.assign(this.el.layer, { value: layer.name });
      this.el.channel.max = channels - 1;
      this.el.channel.value = channel;
      this.el.status.textContent = "";
      this.el.title.textContent = `${layer.name}, channel ${channel}: ${this.describeGeometry()}`;
      this.buildInputs();
      const y = Math.min(Math.max(0, target.y), this.geo.outH - 1);
      const x = Math.min(Math.max(0, target.x), this.geo.outW - 1);
      this.goTo(y * this.geo.outW + x);
    } catch (error) {
      this.el.status.textContent = errorText(error);
    }
  }

  weightsOf(id, name) {
    return lessonsApi.weights(id, name).then((body) => ({ kernel: decodeArray(body.kernel), bias: body.bias ? decodeArray(body.bias) : null }));
  }

  describeGeometry() {
    const { size, strides, dilation, pad } = this.geo;
    const kind = this.layer.class_name === "Conv2D" ? "kernel" : "window";
    return `${size.join("×")} ${kind}, stride ${strides.join("×")}, padding ${this.layer.config.padding} (${pad.join(", ")} before), dilation ${dilation.join("×")}`;
  }

  // --- arithmetic ------------------------------------------------------------------------
  inputAt(y, x, c) {
    const [height, width, channels] = this.data.input.shape;
    if (y < 0 || x < 0 || y >= height || x >= width) return null; // padding
    return this.data.input.data[(y * width + x) * channels + c];
  }

  // Every number of output cell p: the window's rows and columns, per-channel sums, the result.
  compute(p) {
    const { size, strides, dilation, pad, outW } = this.geo;
    const y = Math.floor(p / outW);
    const x = p % outW;
    const top = y * strides[0] - pad[0];
    const left = x * strides[1] - pad[1];
    const rows = Array.from({ length: size[0] }, (_, i) => top + i * dilation[0]);
    const cols = Array.from({ length: size[1] }, (_, j) => left + j * dilation[1]);
    const { channel } = this.data;
    if (this.layer.class_name !== "Conv2D") {
      const seen = [];
      for (const r of rows) for (const c of cols) {
        const v = this.inputAt(r, c, channel);
        if (v !== null) seen.push(v); // Keras leaves padded cells out of max and mean
      }
      const isMax = this.layer.class_name.startsWith("Max");
      const value = isMax ? Math.max(...seen) : seen.reduce((a, b) => a + b, 0) / seen.length;
      return { y, x, rows, cols, value, pool: isMax ? "max" : "mean", count: seen.length };
    }
    const { kernel, bias } = this.data.weights;
    const [kh, kw, cin, cout] = kernel.shape;
    const perChannel = new Float64Array(cin);
    for (let i = 0; i < kh; i++)
      for (let j = 0; j < kw; j++)
        for (let c = 0; c < cin; c++) {
          const v = this.inputAt(rows[i], cols[j], c);
          if (v !== null) perChannel[c] += kernel.data[((i * kw + j) * cin + c) * cout + channel] * v;
        }
    const sum = perChannel.reduce((a, b) => a + b, 0);
    const b = bias ? bias.data[channel] : 0;
    const z = sum + b;
    const activation = this.layer.config.activation || "linear";
    const value = (ACTIVATIONS[activation] || ACTIVATIONS.linear)(z);
    return { y, x, rows, cols, perChannel, sum, bias: b, z, activation, value };
  }

  modelValue(p) {
    const channels = this.data.output.shape[2];
    return this.data.output.data[p * channels + this.data.channel];
  }

  // --- stepping --------------------------------------------------------------------------
  goTo(p) {
    this.position = p;
    this.cell = this.compute(p);
    this.computed[p] = this.cell.value;
    // the fields follow the window, so "Show" picks up where the step is
    this.el.row.value = String(this.cell.y);
    this.el.col.value = String(this.cell.x);
    this.render();
  }

  step() {
    if (!this.data) return false;
    if (this.position + 1 >= this.computed.length) return false;
    this.goTo(this.position + 1);
    return true;
  }

  reset() {
    if (!this.data) return;
    this.computed.fill(NaN);
    this.goTo(0);
  }

  toEnd() {
    if (!this.data) return;
    for (let p = this.position + 1; p < this.computed.length; p++) this.computed[p] = this.compute(p).value;
    this.goTo(this.computed.length - 1);
  }

  play() {
    if (!this.data) return;
    if (this.position + 1 >= this.computed.length) this.reset();
    const perSecond = Number(this.el.speed.value);
    this.timer = setInterval(() => this.step() || this.pause(), 1000 / perSecond);
    this.el.play.textContent = "Pause";
    this.el.play.setAttribute("aria-pressed", "true");
  }

  pause() {
    clearInterval(this.timer);
    this.timer = null;
    this.el.play.textContent = "Play";
    this.el.play.setAttribute("aria-pressed", "false");
  }

  // --- drawing ---------------------------------------------------------------------------
  buildInputs() {
    const { input } = this.data;
    const channels = input.shape[2];
    const shown = this.layer.class_name === "Conv2D" ? Math.min(channels, MAX_CHANNELS_SHOWN) : 1;
    this.inputCanvases = [];
    const maps = [];
    for (let k = 0; k < shown; k++) {
      const c = this.layer.class_name === "Conv2D" ? k : this.data.channel;
      const source = document.createElement("canvas");
      paintMap(source, input.data, input.shape, c);
      const canvas = element("canvas", { class: "cs-map", "aria-hidden": "true" });
      canvas.width = input.shape[1] * CELL;
      canvas.height = input.shape[0] * CELL;
      const button = element("button", { type: "button", class: "cs-channel", "aria-label": `show the products of input channel ${c}`, title: `channel ${c}` }, [canvas]);
      button.addEventListener("click", () => {
        this.shownChannel = c;
        this.render();
      });
      this.inputCanvases.push({ canvas, source, channel: c, button });
      maps.push(button);
    }
    const note = channels > shown && shown > 1 ? [element("p", { class: "muted", text: `the first ${shown} of ${channels} input channels` })] : [];
    this.el.inputs.replaceChildren(...maps, ...note);
  }

  render() {
    const cell = this.cell;
    const { input } = this.data;
    const [height, width] = input.shape;
    // the window on every input channel, with the padding outside the map
    for (const { canvas, source, channel, button } of this.inputCanvases) {
      const context = canvas.getContext("2d");
      context.imageSmoothingEnabled = false;
      context.drawImage(source, 0, 0, width * CELL, height * CELL);
      context.strokeStyle = "#39d353";
      context.lineWidth = 2;
      for (const r of cell.rows) for (const c of cell.cols) context.strokeRect(c * CELL + 1, r * CELL + 1, CELL - 2, CELL - 2);
      button.classList.toggle("selected", channel === this.shownChannel);
    }
    const c = this.shownChannel;
    const [kh, kw] = this.geo.size;
    const patch = (i, j) => this.inputAt(cell.rows[i], cell.cols[j], c) ?? 0;
    const figures = [element("figure", {}, [element("figcaption", { text: `patch (input channel ${c}${cell.rows.some((r) => r < 0 || r >= height) || cell.cols.some((x) => x < 0 || x >= width) ? ", 0 = padding" : ""})` }), grid(kh, kw, patch)])];
    const model = this.modelValue(this.position);
    const lines = [];
    if (this.layer.class_name === "Conv2D") {
      const { kernel } = this.data.weights;
      const [, , cin, cout] = kernel.shape;
      const weight = (i, j) => kernel.data[((i * kw + j) * cin + c) * cout + this.data.channel];
      figures.push(element("figure", {}, [element("figcaption", { text: `× kernel (channel ${c})` }), grid(kh, kw, weight)]));
      figures.push(element("figure", {}, [element("figcaption", { text: "= products" }), grid(kh, kw, (i, j) => patch(i, j) * weight(i, j))]));
      if (cin > 1) {
        lines.push(`Σ products of channel ${c} = ${fmt(cell.perChannel[c])}`);
        lines.push(`Σ over all ${cin} input channels = ${fmt(cell.sum)}`);
      } else lines.push(`Σ products = ${fmt(cell.sum)}`);
      lines.push(`+ bias ${fmt(cell.bias)} = ${fmt(cell.z)}`);
      lines.push(`${cell.activation}(${fmt(cell.z)}) = ${fmt(cell.value)}`);
    } else {
      lines.push(`${cell.pool} of the ${cell.count} cells = ${fmt(cell.value)}`);
    }
    this.el.detail.replaceChildren(...figures);
    const agrees = Math.abs(model - cell.value) <= 1e-4 * Math.max(1, Math.abs(model));
    this.el.sum.replaceChildren(
      element("span", { text: `row ${cell.y}, column ${cell.x}` }), element("br"),
      ...lines.flatMap((line) => [element("span", { text: line }), element("br")]),
      element("b", { "data-testid": "step-value", text: fmt(cell.value) }),
      element("span", { text: `  the model computed ${fmt(model)} ${agrees ? "✓" : "✗"}` }),
    );
    this.el.sum.dataset.value = String(cell.value);
    this.el.sum.dataset.model = String(model);
    this.drawOutput();
  }

  drawOutput() {
    const { outH, outW } = this.geo;
    const canvas = this.el.output;
    const scale = Math.max(4, Math.floor(208 / Math.max(outH, outW)));
    canvas.width = outW * scale;
    canvas.height = outH * scale;
    const source = document.createElement("canvas");
    const filled = this.computed.map((v) => (Number.isNaN(v) ? this.bounds[0] : v));
    paintMap(source, filled, [outH, outW], 0, this.bounds);
    const context = canvas.getContext("2d");
    context.imageSmoothingEnabled = false;
    context.drawImage(source, 0, 0, canvas.width, canvas.height);
    context.fillStyle = "rgba(16, 19, 26, 0.85)"; // cells not computed yet stay dim
    this.computed.forEach((v, p) => Number.isNaN(v) && context.fillRect((p % outW) * scale, Math.floor(p / outW) * scale, scale, scale));
    context.strokeStyle = "#39d353";
    context.lineWidth = 2;
    context.strokeRect(this.cell.x * scale + 1, this.cell.y * scale + 1, scale - 2, scale - 2);
  }

  // for tests and the teacher's console: the map as filled so far, row-major
  computedMap() {
    return Array.from(this.computed);
  }
}

export function targetOf(button) {
  return {
    layer: button.dataset.layer,
    y: Number(button.dataset.y),
    x: Number(button.dataset.x),
    channel: Number(button.dataset.channel),
  };
}
