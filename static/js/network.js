// The network view in the style of Adam Harley's visualizer: every layer from the input down to
// the output, each feature map a grid of coloured cells, dense layers as rows of units, the
// output as labelled probability bars. It renders from data it is given and never fetches.

import { paint } from "./colors.js";

const MAP_SIZE = 84; // css pixels per feature map, whatever its resolution
const UNITS_PER_ROW = 48;

function element(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function describe(layer) {
  const shape = layer.output_shape.join("×");
  const config = layer.config;
  const extra = [];
  if (config.kernel_size) extra.push(`${config.kernel_size.join("×")} kernel`);
  if (config.pool_size) extra.push(`${config.pool_size.join("×")} pool`);
  if (config.activation && config.activation !== "linear") extra.push(config.activation);
  return `${shape}${extra.length ? " · " + extra.join(", ") : ""}`;
}

export class NetworkView {
  constructor(container, { onHover, onLeave, onSelectMap }) {
    this.container = container;
    this.onHover = onHover;
    this.onLeave = onLeave;
    this.onSelectMap = onSelectMap;
    this.layers = [];
  }

  setModel(detail) {
    this.detail = detail;
    this.container.replaceChildren();
    this.overlay = element("canvas", { class: "network-overlay", "aria-hidden": "true" });
    this.container.append(this.overlay);
    const [height, width, channels] = detail.input_shape;
    const inputLayer = {
      name: "input",
      class_name: "Input",
      output_shape: detail.input_shape,
      config: {},
      inbound: [],
      is_container: false,
      spatial: true,
    };
    this.input = this.buildLayer(inputLayer, false, [], { channels: channels === 3 ? 1 : channels, rgb: channels === 3 });
    this.input.section.setAttribute("data-testid", "input-layer");
    const drawn = detail.layers.filter((layer) => !layer.is_container);
    this.layers = drawn.map((layer, index) => this.buildLayer(layer, index === drawn.length - 1, detail.classes));
  }

  buildLayer(layer, isOutput, classes, inputOptions = null) {
    const section = element("section", { class: "layer", "data-testid": "layer", "data-name": layer.name });
    const title = element("h3", {}, [
      element("span", { class: "layer-name", text: layer.name }),
      element("span", { class: "layer-kind", text: ` ${layer.class_name}` }),
      element("span", { class: "layer-shape", text: ` ${describe(layer)}` }),
    ]);
    const body = element("div", { class: "layer-body" });
    section.append(title, body);
    this.container.append(section);
    const view = { layer, section, body, canvases: [], isOutput };

    if (isOutput) {
      view.bars = classes.map((label, index) => {
        const fill = element("span", { class: "bar-fill" });
        const value = element("span", { class: "bar-value", text: "–" });
        const row = element("div", { class: "bar", "data-index": index }, [
          element("span", { class: "bar-label", text: label }),
          element("span", { class: "bar-track" }, [fill]),
          value,
        ]);
        body.append(row);
        row.addEventListener("mouseenter", () => this.onHover({ layer, index, view }));
        row.addEventListener("click", () => this.onSelectMap({ layer, channel: index, view }));
        row.addEventListener("mouseleave", () => this.onLeave());
        return { row, fill, value };
      });
      body.classList.add("bars");
    } else if (layer.output_shape.length === 3) {
      const [height, width] = layer.output_shape;
      const channels = inputOptions ? inputOptions.channels : layer.output_shape[2];
      view.rgb = inputOptions ? inputOptions.rgb : false;
      const size = inputOptions ? 2 * MAP_SIZE : MAP_SIZE;
      const cell = Math.max(1, Math.floor(size / Math.max(height, width)));
      view.cell = cell;
      body.classList.add("maps");
      for (let channel = 0; channel < channels; channel++) {
        const canvas = element("canvas", {
          width,
          height,
          class: "map",
          tabindex: "0",
          title: `${layer.name}, channel ${channel}`,
          "aria-label": `${layer.name} feature map ${channel}`,
        });
        canvas.style.width = `${cell * width}px`;
        canvas.style.height = `${cell * height}px`;
        const hover = (event) => {
          const rect = canvas.getBoundingClientRect();
          const x = Math.min(width - 1, Math.floor(((event.clientX - rect.left) / rect.width) * width));
          const y = Math.min(height - 1, Math.floor(((event.clientY - rect.top) / rect.height) * height));
          this.onHover({ layer, channel, y, x, view, canvas });
        };
        canvas.addEventListener("mousemove", hover);
        canvas.addEventListener("mouseleave", () => this.onLeave());
        canvas.addEventListener("click", () => this.onSelectMap({ layer, channel, view }));
        canvas.addEventListener("keydown", (event) => {
          if (event.key === "Enter" || event.key === " ") this.onSelectMap({ layer, channel, view });
        });
        canvas.addEventListener("focus", () => this.onHover({ layer, channel, y: 0, x: 0, view, canvas }));
        body.append(canvas);
        view.canvases.push(canvas);
      }
    } else {
      const units = layer.output_shape.reduce((a, b) => a * b, 1);
      const columns = Math.min(units, UNITS_PER_ROW);
      const rows = Math.ceil(units / columns);
      const canvas = element("canvas", { width: columns, height: rows, class: "units", "aria-label": `${layer.name} units` });
      const cell = Math.max(4, Math.floor(480 / columns));
      canvas.style.width = `${cell * columns}px`;
      canvas.style.height = `${cell * rows}px`;
      view.columns = columns;
      canvas.addEventListener("mousemove", (event) => {
        const rect = canvas.getBoundingClientRect();
        const column = Math.min(columns - 1, Math.floor(((event.clientX - rect.left) / rect.width) * columns));
        const row = Math.min(rows - 1, Math.floor(((event.clientY - rect.top) / rect.height) * rows));
        const index = row * columns + column;
        if (index < units) this.onHover({ layer, index, view, canvas });
      });
      canvas.addEventListener("mouseleave", () => this.onLeave());
      canvas.addEventListener("click", (event) => {
        const rect = canvas.getBoundingClientRect();
        const column = Math.min(columns - 1, Math.floor(((event.clientX - rect.left) / rect.width) * columns));
        const row = Math.min(rows - 1, Math.floor(((event.clientY - rect.top) / rect.height) * rows));
        if (row * columns + column < units) this.onSelectMap({ layer, channel: row * columns + column, view });
      });
      body.append(canvas);
      view.canvases.push(canvas);
    }
    return view;
  }

  // answerLayers: [{name, min, max, values: Float32Array, shape}], mode: map | layer | global
  render(answerLayers, probabilities, mode) {
    const byName = new Map(answerLayers.map((layer) => [layer.name, layer]));
    const hidden = answerLayers.slice(0, -1);
    const globalLo = Math.min(0, ...hidden.map((layer) => layer.min));
    const globalHi = Math.max(...hidden.map((layer) => layer.max));
    for (const view of this.layers) {
      const data = byName.get(view.layer.name);
      if (!data) continue;
      if (view.isOutput) {
        const best = probabilities.indexOf(Math.max(...probabilities));
        view.bars.forEach((bar, index) => {
          const p = probabilities[index];
          bar.fill.style.width = `${(p * 100).toFixed(1)}%`;
          bar.value.textContent = `${(p * 100).toFixed(1)}%`;
          bar.row.classList.toggle("top", index === best);
        });
        continue;
      }
      const [lo, hi] = mode === "global" ? [globalLo, globalHi] : [Math.min(0, data.min), data.max];
      if (view.layer.output_shape.length === 3) {
        const [height, width, channels] = data.shape;
        view.canvases.forEach((canvas, channel) => {
          const context = canvas.getContext("2d");
          const image = context.createImageData(width, height);
          let [mapLo, mapHi] = [lo, hi];
          if (mode === "map") {
            mapLo = Infinity;
            mapHi = -Infinity;
            for (let i = channel; i < data.values.length; i += channels) {
              mapLo = Math.min(mapLo, data.values[i]);
              mapHi = Math.max(mapHi, data.values[i]);
            }
            mapLo = Math.min(0, mapLo);
          }
          paint(image.data, data.values, channel, channels, width * height, mapLo, mapHi);
          context.putImageData(image, 0, 0);
        });
      } else {
        const canvas = view.canvases[0];
        const context = canvas.getContext("2d");
        const image = context.createImageData(canvas.width, canvas.height);
        paint(image.data, data.values, 0, 1, data.values.length, lo, hi);
        context.putImageData(image, 0, 0);
      }
    }
  }

  renderInput(input) {
    const view = this.input;
    const [height, width, channels] = input.shape;
    const lo = Math.min(...input.values);
    const hi = Math.max(...input.values);
    view.canvases.forEach((canvas, channel) => {
      const context = canvas.getContext("2d");
      const image = context.createImageData(width, height);
      if (view.rgb) {
        const span = hi - lo || 1;
        for (let i = 0; i < width * height; i++) {
          for (let c = 0; c < 3; c++) image.data[i * 4 + c] = ((input.values[i * channels + c] - lo) / span) * 255;
          image.data[i * 4 + 3] = 255;
        }
      } else {
        // the input in grey, as the model sees it
        for (let i = 0; i < width * height; i++) {
          const v = ((input.values[i * channels + channel] - lo) / (hi - lo || 1)) * 255;
          image.data.set([v, v, v, 255], i * 4);
        }
      }
      context.putImageData(image, 0, 0);
    });
  }

  view(name) {
    return name === "input" ? this.input : this.layers.find((view) => view.layer.name === name);
  }

  // Outline the hovered unit, the regions it reads, and (for the hovered unit only) its edges.
  highlight(target, regions) {
    const overlay = this.overlay;
    const box = this.container.getBoundingClientRect();
    overlay.width = this.container.scrollWidth;
    overlay.height = this.container.scrollHeight;
    const context = overlay.getContext("2d");
    context.clearRect(0, 0, overlay.width, overlay.height);
    if (!target) return;
    const offset = (rect) => ({
      left: rect.left - box.left + this.container.scrollLeft,
      top: rect.top - box.top + this.container.scrollTop,
    });
    const unitRect = (canvas, y0, y1, x0, x1) => {
      const rect = canvas.getBoundingClientRect();
      const { left, top } = offset(rect);
      const sx = rect.width / canvas.width;
      const sy = rect.height / canvas.height;
      return { x: left + x0 * sx, y: top + y0 * sy, w: (x1 - x0 + 1) * sx, h: (y1 - y0 + 1) * sy };
    };
    let origin = null;
    if (target.canvas && target.y !== undefined) origin = unitRect(target.canvas, target.y, target.y, target.x, target.x);
    else if (target.canvas) {
      const columns = target.view.columns;
      const row = Math.floor(target.index / columns);
      const column = target.index % columns;
      origin = unitRect(target.canvas, row, row, column, column);
    }
    const accent = getComputedStyle(document.documentElement).getPropertyValue("--highlight").trim() || "#39d353";
    context.lineWidth = 2;
    context.strokeStyle = accent;
    for (const region of regions) {
      const view = this.view(region.layer);
      if (!view) continue;
      const canvases = region.channel === null || region.channel === undefined || view === this.input
        ? view.canvases
        : [view.canvases[region.channel]];
      canvases.slice(0, 64).forEach((canvas) => {
        const r = unitRect(canvas, region.box.y0, region.box.y1, region.box.x0, region.box.x1);
        context.strokeRect(r.x, r.y, r.w, r.h);
        if (origin && !region.receptiveField) {
          context.globalAlpha = 0.35;
          context.beginPath();
          context.moveTo(origin.x + origin.w / 2, origin.y + origin.h / 2);
          context.lineTo(r.x + r.w / 2, r.y + r.h);
          context.stroke();
          context.globalAlpha = 1;
        }
      });
    }
    if (origin) {
      context.strokeStyle = "#fff";
      context.strokeRect(origin.x - 1, origin.y - 1, origin.w + 2, origin.h + 2);
    }
  }
}
