// The overview for big models (VGG16 and the like): each layer one strip of channel thumbnails from
// reduced activations (max_side, uint8: about 2 MB for all of VGG16 at 224x224), one canvas per
// layer, only the part in view drawn. A layer's name opens all its channels full size; a channel
// opens its map, filter pattern and top examples. Renders from data it is given; the layer's
// full-size activations come through `onLoadLayer`.

import { channelRange, paintGrid } from "./colors.js";
import { Grid } from "./layout.js";
import { describeLayer, element } from "./network.js";

export const OVERVIEW_OPTIONS = { max_side: 16, dtype: "uint8" };
const THUMB = 30; // css px per channel thumbnail
const STEP = THUMB + 2;
const UNIT = 3; // css px per unit of a vector layer
const BIG = 400_000; // more activation values than this: the overview, not every cell

export function isBig(detail) {
  const values = detail.layers.filter((layer) => !layer.is_container).reduce((sum, layer) => sum + layer.output_shape.reduce((a, b) => a * b, 1), 0);
  return values > BIG;
}

export class OverviewView {
  constructor(container, { onOpenChannel, onLoadLayer, onError }) {
    this.container = container;
    this.onOpenChannel = onOpenChannel;
    this.onLoadLayer = onLoadLayer;
    this.onError = onError;
    this.dialog = document.querySelector("#layer-dialog");
    this.dialog.querySelector("#layer-close").addEventListener("click", () => this.dialog.close());
    this.visibility = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        const slot = this.slots.find((s) => s.section === entry.target);
        if (!slot) continue;
        slot.visible = entry.isIntersecting;
        if (slot.visible) this.draw(slot);
      }
    }, { root: container });
    this.slots = [];
  }

  setModel(detail) {
    this.detail = detail;
    this.answer = null;
    this.full = new Map();
    this.visibility.disconnect();
    this.container.replaceChildren();
    this.slots = detail.layers.filter((layer) => !layer.is_container).map((layer) => this.addSlot(layer));
  }

  addSlot(layer) {
    const spatial = layer.output_shape.length === 3;
    const count = spatial ? layer.output_shape[2] : layer.output_shape.reduce((a, b) => a * b, 1);
    const name = element("button", { type: "button", class: "layer-open", title: spatial ? "show every channel full size" : "", text: layer.name });
    const label = element("h3", { class: "layer-label" }, [name, element("span", { class: "layer-kind", text: ` ${layer.class_name} ` }), element("span", { class: "layer-shape", text: describeLayer(layer) })]);
    const canvas = element("canvas", { class: "strip-canvas", "aria-label": `${layer.name}: ${count} ${spatial ? "channels" : "units"}` });
    const spacer = element("div", { class: "strip-spacer" });
    spacer.style.width = `${spatial ? count * STEP : count * UNIT}px`;
    const strip = element("div", { class: "strip" }, [canvas, spacer]);
    const section = element("section", { class: "layer overview-layer", "data-testid": "layer", "data-name": layer.name, "data-layer": layer.name }, [label, strip]);
    this.container.append(section);
    const slot = { layer, spatial, count, section, strip, canvas, visible: false, drawn: 0 };
    strip.addEventListener("scroll", () => this.draw(slot), { passive: true });
    if (spatial) {
      name.addEventListener("click", () => this.openLayer(slot));
      canvas.addEventListener("click", (event) => {
        const channel = Math.floor((event.clientX - strip.getBoundingClientRect().left + strip.scrollLeft) / STEP);
        if (channel < count) this.openChannel(slot, channel);
      });
    }
    this.visibility.observe(section);
    return slot;
  }

  render(answer, scale) {
    this.answer = answer;
    this.scale = scale;
    this.full = new Map(); // full-size layers belong to the previous input
    for (const slot of this.slots) if (slot.visible) this.draw(slot);
  }

  // Paint only the thumbnails in view: one canvas the width of the strip's window.
  draw(slot) {
    const data = this.answer && this.answer.layers.get(slot.layer.name);
    if (!data) return;
    const { strip, canvas } = slot;
    const width = strip.clientWidth;
    const ratio = window.devicePixelRatio || 1;
    const height = slot.spatial ? THUMB : 12;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
    canvas.style.left = `${strip.scrollLeft}px`;
    const context = canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.imageSmoothingEnabled = false;
    context.clearRect(0, 0, width, height);
    if (!slot.spatial) {
      const first = Math.floor(strip.scrollLeft / UNIT);
      const shown = Math.min(data.values.length - first, Math.ceil(width / UNIT) + 1);
      if (shown <= 0) return;
      const values = data.values.subarray(first, first + shown);
      this.blit(context, new Grid([shown], shown), values, 1, () => [Math.min(0, data.min), data.max], -(strip.scrollLeft % UNIT), 0, shown * UNIT, height);
      slot.drawn = shown;
      slot.section.dataset.drawn = String(shown);
      return;
    }
    const [h, w, channels] = data.shape;
    const first = Math.floor(strip.scrollLeft / STEP);
    const last = Math.min(channels, Math.ceil((strip.scrollLeft + width) / STEP));
    // the visible channels as one row of maps with one-cell gaps, stretched to the thumbnails
    const picked = new Float32Array(h * w * (last - first));
    for (let i = 0; i < h * w; i++) for (let c = first; c < last; c++) picked[i * (last - first) + c - first] = data.values[i * channels + c];
    const grid = new Grid([h, w, last - first], last - first);
    const scale = this.scale;
    const range = scale !== "map" ? () => [Math.min(0, data.min), data.max] : (map) => channelRange(picked, map, last - first);
    const left = first * STEP - strip.scrollLeft;
    this.blit(context, grid, picked, last - first, range, left, 0, (grid.width * STEP) / (w + 1), (h * STEP) / (w + 1));
    slot.drawn = last - first;
    slot.section.dataset.drawn = String(slot.drawn);
  }

  blit(context, grid, values, channels, range, x, y, width, height) {
    const source = this.scratch || (this.scratch = document.createElement("canvas"));
    source.width = grid.width;
    source.height = grid.height;
    const scratch = source.getContext("2d");
    const image = scratch.createImageData(grid.width, grid.height);
    paintGrid(image.data, grid, values, channels, range);
    scratch.putImageData(image, 0, 0);
    context.drawImage(source, x, y, width, height);
  }

  async layerData(slot) {
    if (!this.full.has(slot.layer.name)) {
      const loading = this.onLoadLayer(slot.layer).then((answer) => {
        const layer = answer.layers[0];
        return { shape: layer.activations.shape, array: layer.activations };
      });
      this.full.set(slot.layer.name, loading);
    }
    return this.full.get(slot.layer.name);
  }

  async openChannel(slot, channel) {
    try {
      const { decodeArray } = await import("./api.js");
      const { array } = await this.layerData(slot);
      const { shape, data } = decodeArray(array);
      this.onOpenChannel(slot.layer, channel, { shape, values: data });
    } catch (error) {
      this.onError(error.detail || String(error));
    }
  }

  // Every channel of a layer at full size, in one canvas; a click opens that channel.
  async openLayer(slot) {
    const title = this.dialog.querySelector("#layer-title");
    const canvas = this.dialog.querySelector("#layer-maps");
    title.textContent = `${slot.layer.name}: ${slot.count} channels, ${slot.layer.output_shape[0]}×${slot.layer.output_shape[1]} each (loading…)`;
    if (!this.dialog.open) this.dialog.showModal();
    try {
      const { decodeArray } = await import("./api.js");
      const { array } = await this.layerData(slot);
      const { shape, data } = decodeArray(array);
      const [h, w, channels] = shape;
      const grid = new Grid(shape, Math.max(1, Math.ceil(Math.sqrt((channels * h) / w))));
      canvas.width = grid.width;
      canvas.height = grid.height;
      const context = canvas.getContext("2d");
      const image = context.createImageData(grid.width, grid.height);
      image.data.fill(40);
      paintGrid(image.data, grid, data, channels, (map) => channelRange(data, map, channels));
      context.putImageData(image, 0, 0);
      canvas.dataset.maps = String(channels);
      title.textContent = `${slot.layer.name}: ${channels} channels, ${h}×${w} each; click one for its filter pattern`;
      canvas.onclick = (event) => {
        const rect = canvas.getBoundingClientRect();
        const unit = grid.unitAt(((event.clientX - rect.left) / rect.width) * grid.width, ((event.clientY - rect.top) / rect.height) * grid.height);
        if (!unit) return;
        this.dialog.close();
        this.onOpenChannel(slot.layer, unit.channel, { shape, values: data });
      };
    } catch (error) {
      this.onError(error.detail || String(error));
    }
  }

  // Overviews show no edges: their maps are reduced, so units are not the model's units.
  showEdges() {}
}
