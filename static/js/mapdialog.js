// The enlarged feature map (or unit): its values, a first-layer map's kernel, the filter pattern
// its channel responds to most, and the reference images that excite it most.

import { api } from "./api.js";
import { channelRange, paintGrid } from "./colors.js";
import { Grid } from "./layout.js";
import { thumbnails } from "./thumbs.js";

export class MapDialog {
  constructor(dialog, { weightsFor, onError }) {
    this.dialog = dialog;
    this.weightsFor = weightsFor;
    this.onError = onError;
    this.title = dialog.querySelector("#map-title");
    this.big = dialog.querySelector("#map-big");
    this.range = dialog.querySelector("#map-range");
    this.note = dialog.querySelector("#map-filter");
    this.top = dialog.querySelector("#map-top");
    dialog.querySelector("#map-close").addEventListener("click", () => dialog.close());
  }

  setModel(detail) {
    this.detail = detail;
  }

  // layer: a layer of the model detail; data: {shape, values} of its activations, or null.
  async show(layer, channel, data) {
    const spatial = layer.output_shape.length === 3;
    this.title.textContent = `${layer.name}, ${spatial ? "channel" : "unit"} ${channel}`;
    this.big.hidden = !spatial;
    this.note.replaceChildren();
    this.range.textContent = "";
    this.showTopExamples(layer, channel);
    if (!spatial) {
      if (!this.dialog.open) this.dialog.showModal();
      return;
    }
    if (data) this.drawMap(data, channel);
    if (layer.class_name === "Conv2D" && layer.inbound[0] === "input") await this.showKernel(layer, channel);
    if (!this.dialog.open) this.dialog.showModal();
    await this.showPattern(layer, channel);
  }

  drawMap(data, channel) {
    const [height, width, channels] = data.shape;
    const [lo, hi] = channelRange(data.values, channel, channels);
    const grid = new Grid([height, width, 1], 1);
    const source = document.createElement("canvas");
    source.width = width;
    source.height = height;
    const context = source.getContext("2d");
    const image = context.createImageData(width, height);
    const one = new Float32Array(width * height);
    for (let i = 0; i < one.length; i++) one[i] = data.values[i * channels + channel];
    paintGrid(image.data, grid, one, 1, () => [lo, hi]);
    context.putImageData(image, 0, 0);
    const big = this.big.getContext("2d");
    big.imageSmoothingEnabled = false;
    big.clearRect(0, 0, this.big.width, this.big.height);
    big.drawImage(source, 0, 0, this.big.width, this.big.height);
    this.range.textContent = `${height}×${width}, values from ${lo.toFixed(3)} to ${hi.toFixed(3)}`;
  }

  // First-layer kernels are small enough to show as they are.
  async showKernel(layer, channel) {
    const weights = await this.weightsFor(layer);
    if (!weights) return;
    const [kh, kw, cin, cout] = weights.kernel.shape;
    const canvas = document.createElement("canvas");
    canvas.width = kw;
    canvas.height = kh;
    canvas.className = "kernel";
    const image = canvas.getContext("2d").createImageData(kw, kh);
    let bound = 1e-12;
    for (let i = 0; i < kh * kw; i++) bound = Math.max(bound, Math.abs(weights.kernel.data[i * cin * cout + channel]));
    for (let i = 0; i < kh * kw; i++) {
      const v = 127.5 + (weights.kernel.data[i * cin * cout + channel] / bound) * 127.5; // input channel 0
      image.data.set([v, v, v, 255], i * 4);
    }
    canvas.getContext("2d").putImageData(image, 0, 0);
    const caption = document.createElement("p");
    caption.textContent = `its ${kh}×${kw} kernel (white positive, black negative)`;
    this.note.append(canvas, caption);
  }

  // What this channel responds to: its filter pattern, by gradient ascent (computed or cached).
  async showPattern(layer, channel) {
    const waiting = document.createElement("p");
    waiting.className = "muted";
    waiting.textContent = "computing its filter pattern…";
    this.note.append(waiting);
    try {
      const pattern = await api.filterPattern(this.detail.id, layer.name, channel);
      const image = new Image();
      image.src = pattern.png;
      image.alt = `filter pattern of ${layer.name} channel ${channel}`;
      image.className = "pattern";
      image.setAttribute("data-testid", "filter-pattern");
      waiting.textContent = `the input it responds to most (mean activation ${pattern.activation.toFixed(2)})`;
      this.note.append(image);
    } catch (error) {
      waiting.textContent = error.detail || String(error);
    }
  }

  async showTopExamples(layer, unit) {
    this.top.replaceChildren();
    if (!this.detail.card.reference) return;
    try {
      const top = await api.topExamples(this.detail.id, layer.name, unit);
      const title = document.createElement("p");
      title.className = "muted";
      title.textContent = "the reference images that excite it most:";
      const strip = thumbnails(top.examples, (item) => `${item.label} · ${item.activation.toFixed(2)}`);
      strip.setAttribute("data-testid", "top-examples");
      this.top.append(title, strip);
    } catch (error) {
      if (error.status !== 404) this.onError(error.detail || String(error));
    }
  }
}
