// The network view as Adam Harley's 2D visualizer draws it: every layer from the input to the
// output bars at once, sized to fit the view, each layer one canvas of cells (feature maps side
// by side, vector layers as rows of units), and a hovered unit's edges to every unit it reads.
// It renders from data it is given and never fetches.

import { channelRange, edgeColour, paintGrid } from "./colors.js";
import { describeUnit, nextUnit } from "./keyboard.js";
import { fitLayout } from "./layout.js";

const BAR_HEIGHT = 64; // the output layer's probability bars
const BAR_LINES = 6.5; // with big labels (projector mode), bars this many label lines high: value, track, class
const MIN_ROW = 26; // a layer's row is at least this high, for its label
const MAX_BARS = 20; // more classes than this: the output is drawn as units, with the top five named
const GAP_COLOUR = [34, 39, 54];
// A dense unit reads every input (576 for dense1): all its edges at once are a flat smear, so only
// the strongest contributions |weight x input| are drawn, with their count said beside the unit.
export const DENSE_EDGES = 24;

// Each map's cell block with its one-cell border in the gap colour; unused places stay transparent.
function paintGaps(image, grid) {
  if (!grid.spatial) return;
  const blocks = grid.maps;
  for (let map = 0; map < blocks; map++) {
    const { x: left, y: top } = grid.cell({ channel: map, y: 0, x: 0 });
    for (let y = top; y < Math.min(grid.height, top + grid.h + 1); y++)
      for (let x = left; x < Math.min(grid.width, left + grid.w + 1); x++) image.data.set([...GAP_COLOUR, 255], (y * grid.width + x) * 4);
  }
}

export function element(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

// Set a text only when it changes: a new text node lays the page out again, and answers come
// 60 times a second while a student draws.
export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

export function describeLayer(layer) {
  const config = layer.config || {};
  const extra = [];
  if (config.kernel_size) extra.push(`${config.kernel_size.join("×")} kernel`);
  if (config.pool_size) extra.push(`${config.pool_size.join("×")} pool`);
  if (config.activation && config.activation !== "linear") extra.push(config.activation);
  return `${layer.output_shape.join("×")}${extra.length ? " · " + extra.join(", ") : ""}`;
}

// The model input as a layer, so the view and the inspector treat it like the others.
export function inputLayer(detail) {
  return { name: "input", class_name: "Input", kind: "input", output_shape: detail.input_shape, config: {}, inbound: [], is_container: false, spatial: true };
}

export class NetworkView {
  // announcer: a live region that tells a screen reader which unit the keys moved to, and its value
  constructor(container, { onHover, onLeave, onSelect, announcer = null }) {
    this.container = container;
    this.announcer = announcer;
    this.onHover = onHover;
    this.onLeave = onLeave;
    this.onSelect = onSelect;
    this.slots = new Map();
    this.labelFont = null;
    new ResizeObserver(() => this.detail && this.layout()).observe(container);
  }

  setModel(detail) {
    this.detail = detail;
    this.answer = null;
    this.container.replaceChildren();
    this.overlay = element("canvas", { class: "network-overlay", "data-testid": "edges", "data-count": "0", "aria-hidden": "true" });
    this.container.append(this.overlay);
    this.slots = new Map();
    const drawn = detail.layers.filter((layer) => !layer.is_container);
    const input = inputLayer(detail);
    this.addSlot(input, { isInput: true, rgb: detail.input_shape[2] === 3 }).section.setAttribute("data-testid", "input-layer");
    drawn.forEach((layer, i) => this.addSlot(layer, { isOutput: i === drawn.length - 1 }));
    this.layout();
  }

  addSlot(layer, { isInput = false, isOutput = false, rgb = false }) {
    const section = element("section", { class: "layer", "data-testid": "layer", "data-name": layer.name, "data-layer": layer.name });
    const label = element("h3", { class: "layer-label", title: `${layer.name} (${layer.class_name}) ${describeLayer(layer)}` }, [
      element("span", { class: "layer-name", text: layer.name }),
      element("span", { class: "layer-kind", text: layer.class_name }),
      element("span", { class: "layer-shape", text: describeLayer(layer) }),
    ]);
    section.append(label);
    this.container.append(section);
    const slot = { layer, section, shape: layer.output_shape, isInput, rgb, isOutput: false, dense: layer.kind === "dense" };
    const classes = this.detail.classes;
    if (isOutput && classes.length <= MAX_BARS && layer.output_shape.length === 1) {
      slot.isOutput = true;
      const body = element("div", { class: "bars" });
      slot.barBody = body;
      slot.bars = classes.map((name, index) => {
        const fill = element("span", { class: "bar-fill" });
        const value = element("span", { class: "bar-value", text: "–" });
        // a button to the keyboard and to a screen reader (Enter pins the class's unit, as a click
        // does), named with its class and probability (renderBars keeps the name up to date)
        const row = element("div", { class: "bar", "data-index": index, title: `${layer.name}, class ${name}`, tabindex: "0", role: "button", "aria-label": `class ${name}` }, [
          value,
          element("span", { class: "bar-track" }, [fill]),
          element("span", { class: "bar-label", text: name }),
        ]);
        row.addEventListener("mouseenter", () => this.onHover({ layer, index }));
        row.addEventListener("mouseleave", () => this.onLeave());
        row.addEventListener("click", () => this.onSelect({ layer, index }));
        row.addEventListener("focus", () => this.onHover({ layer, index }));
        row.addEventListener("keydown", (event) => {
          if (event.key !== "Enter" && event.key !== " ") return;
          event.preventDefault(); // Space would scroll the page
          this.onSelect({ layer, index });
        });
        body.append(row);
        return { row, fill, value, name };
      });
      section.append(body);
    } else {
      const maps = layer.output_shape.length === 3 && !rgb ? layer.output_shape[2] : 1;
      const keys = `Arrow keys move the unit${maps > 1 ? ", Page Up and Page Down the map" : ""}, Enter pins it.`;
      // one tab stop per layer with a roving active unit (keyboard.js); "application": a screen
      // reader passes the arrow keys through to it instead of reading the page with them
      const canvas = element("canvas", { class: "layer-canvas", tabindex: "0", role: "application", "aria-label": `${layer.name} (${layer.class_name}): ${describeLayer(layer)}. ${keys}` });
      slot.active = layer.output_shape.length === 3 ? { channel: 0, y: 0, x: 0 } : { index: 0 };
      const target = (event) => {
        const rect = canvas.getBoundingClientRect();
        const unit = slot.grid.unitAt(((event.clientX - rect.left) / rect.width) * slot.grid.width, ((event.clientY - rect.top) / rect.height) * slot.grid.height);
        return unit && { layer, ...unit };
      };
      canvas.addEventListener("mousemove", (event) => {
        const hit = target(event);
        if (hit) this.onHover(hit);
        else this.onLeave();
      });
      canvas.addEventListener("mouseleave", () => this.onLeave());
      canvas.addEventListener("click", (event) => {
        const hit = target(event);
        if (!hit) return;
        slot.active = { ...hit }; // the keys go on from the clicked unit
        delete slot.active.layer;
        this.onSelect(hit);
      });
      // a click focuses the canvas too: only keyboard focus shows the active unit, or the unit
      // under the pointer would give way to it
      canvas.addEventListener("focus", () => canvas.matches(":focus-visible") && this.activate(slot));
      canvas.addEventListener("keydown", (event) => {
        if (event.altKey || event.metaKey) return;
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          this.onSelect({ layer, ...slot.active });
          return;
        }
        const next = slot.grid && nextUnit(slot.active, event.key, slot.grid, { ctrl: event.ctrlKey });
        if (!next) return;
        event.preventDefault(); // the arrows and Page keys would scroll the view
        slot.active = next;
        this.activate(slot);
      });
      slot.canvas = canvas;
      section.append(canvas);
      if (isOutput) {
        slot.top = element("p", { class: "top-classes muted" });
        label.append(slot.top);
      }
    }
    this.slots.set(layer.name, slot);
    return slot;
  }

  // Label size in css px for projector mode (null: the page's own small labels). Rows and the
  // output bars grow to hold labels that big, so none is clipped.
  setLabelFont(px) {
    if (px === this.labelFont) return;
    this.labelFont = px;
    if (this.detail) this.layout();
  }

  // Size every layer so the whole network fits the container (scrolling only if it cannot).
  layout() {
    const style = getComputedStyle(this.container);
    const first = this.container.querySelector(".layer");
    const labelWidth = first ? parseFloat(getComputedStyle(first).gridTemplateColumns) || 0 : 0;
    const width = this.container.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - labelWidth;
    const height = this.container.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
    if (width <= 0 || height <= 0) return;
    const slots = [...this.slots.values()];
    for (const slot of slots) {
      if (!slot.barBody) continue;
      slot.fixedHeight = this.labelFont ? Math.round(this.labelFont * BAR_LINES) : BAR_HEIGHT;
      slot.barBody.style.height = `${slot.fixedHeight}px`;
    }
    // big labels: every row at least as tall as the tallest label; otherwise each row at least as
    // tall as its own label, which wraps onto more lines in a narrow window (a phone)
    const labelHeights = slots.map((slot) => slot.section.querySelector(".layer-label").scrollHeight);
    const minRow = this.labelFont ? Math.max(MIN_ROW, ...labelHeights) : MIN_ROW;
    slots.forEach((slot, i) => (slot.minRow = labelHeights[i]));
    const placed = fitLayout(slots, width, height - 2, { minRow });
    // the edge overlay is sized to what it covers (showEdges): one sized for a taller view would
    // keep the container scrolling after it shrinks
    Object.assign(this.overlay, { width: 0, height: 0 });
    Object.assign(this.overlay.style, { width: "0px", height: "0px" });
    slots.forEach((slot, i) => {
      const { grid, cell, height: rowHeight } = placed[i];
      slot.section.style.height = `${rowHeight}px`;
      if (!slot.canvas) return;
      const same = slot.grid && slot.grid.width === grid.width && slot.grid.height === grid.height && slot.cell === cell;
      if (same) return;
      slot.grid = grid;
      slot.cell = cell;
      const canvas = slot.canvas;
      canvas.width = grid.width;
      canvas.height = grid.height;
      canvas.style.width = `${grid.width * cell}px`;
      canvas.style.height = `${grid.height * cell}px`;
      canvas.dataset.cell = String(cell);
      canvas.dataset.columns = String(grid.columns);
      if (grid.spatial) Object.assign(canvas.dataset, { maps: String(grid.maps), mapHeight: String(grid.h), mapWidth: String(grid.w) });
      else canvas.dataset.units = String(grid.units);
      slot.context = canvas.getContext("2d");
      slot.image = slot.context.createImageData(grid.width, grid.height);
      paintGaps(slot.image, grid);
    });
    if (this.answer) this.render(this.answer, this.mode);
    if (this.lastEdges) this.showEdges(...this.lastEdges);
  }

  // answer: {input: {shape, values}, layers: Map(name -> {shape, values, min, max}), probabilities, top}
  render(answer, mode) {
    this.answer = answer;
    this.mode = mode;
    let globalLo = 0;
    let globalHi = -Infinity;
    if (mode === "global") {
      for (const slot of this.slots.values()) {
        const data = answer.layers.get(slot.layer.name);
        if (slot.isInput || slot.isOutput || !data) continue;
        globalLo = Math.min(globalLo, data.min);
        globalHi = Math.max(globalHi, data.max);
      }
    }
    for (const slot of this.slots.values()) {
      if (slot.isInput) this.renderInput(slot, answer.input);
      else if (slot.isOutput) this.renderBars(slot, answer.probabilities);
      else {
        const data = answer.layers.get(slot.layer.name);
        if (!data || !slot.image) continue;
        const channels = data.shape.length === 3 ? data.shape[2] : 1;
        const layerRange = [Math.min(0, data.min), data.max];
        const range =
          mode === "global" ? () => [globalLo, globalHi]
          : mode === "map" && slot.grid.spatial ? (map) => channelRange(data.values, map, channels)
          : () => layerRange;
        paintGrid(slot.image.data, slot.grid, data.values, channels, range);
        slot.context.putImageData(slot.image, 0, 0);
        if (slot.top) setText(slot.top, answer.top.slice(0, 5).map((t) => `${t.label} ${(t.probability * 100).toFixed(1)}%`).join(" · "));
      }
    }
  }

  // Show a layer's active unit as if hovered (the Unit box, its edges, the white box round its cell)
  // and say it to a screen reader.
  activate(slot) {
    if (!slot.grid) return;
    const unit = slot.active;
    slot.canvas.dataset.active = unit.y === undefined ? String(unit.index) : `${unit.channel},${unit.y},${unit.x}`;
    this.onHover({ layer: slot.layer, ...unit });
    if (this.announcer) this.announcer.textContent = describeUnit(slot.layer, unit, this.valueOf(slot, unit), slot.grid.spatial ? slot.grid.maps : 1);
  }

  // A unit's value in the answer on screen (an RGB input pixel: its three values), or null.
  valueOf(slot, unit) {
    if (!this.answer) return null;
    const data = slot.isInput ? this.answer.input : this.answer.layers.get(slot.layer.name);
    if (!data) return null;
    if (unit.y === undefined) return data.values[unit.index];
    const at = (unit.y * data.shape[1] + unit.x) * data.shape[2];
    return slot.rgb ? [0, 1, 2].map((c) => data.values[at + c]) : data.values[at + unit.channel];
  }

  renderInput(slot, input) {
    if (!slot.image) return;
    const [height, width, channels] = input.shape;
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of input.values) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const span = hi - lo || 1;
    const pixels = slot.image.data;
    const grid = slot.grid;
    for (let map = 0; map < grid.maps; map++) {
      const origin = grid.cell({ channel: map, y: 0, x: 0 });
      for (let y = 0; y < height; y++)
        for (let x = 0; x < width; x++) {
          const p = ((origin.y + y) * grid.width + origin.x + x) * 4;
          const i = (y * width + x) * channels;
          for (let c = 0; c < 3; c++) pixels[p + c] = ((input.values[i + (slot.rgb ? c : map)] - lo) / span) * 255;
        }
    }
    slot.context.putImageData(slot.image, 0, 0);
  }

  renderBars(slot, probabilities) {
    const best = probabilities.indexOf(Math.max(...probabilities));
    slot.bars.forEach((bar, index) => {
      const p = probabilities[index];
      const height = `${(p * 100).toFixed(1)}%`;
      if (bar.fill.style.height !== height) bar.fill.style.height = height;
      const value = `${(p * 100).toFixed(p >= 0.995 ? 0 : 1)}%`;
      setText(bar.value, value);
      bar.row.classList.toggle("best", index === best);
      // starts with the visible text (value, class), as WCAG 2.5.3 asks of a name
      const label = `${value} ${bar.name}: class ${bar.name}${index === best ? ", the prediction" : ""}`;
      if (bar.row.getAttribute("aria-label") !== label) bar.row.setAttribute("aria-label", label);
    });
  }

  // The centre of a unit, in the container's scrolled coordinates.
  unitBox(name, unit) {
    const slot = this.slots.get(name);
    if (!slot) return null;
    const box = this.container.getBoundingClientRect();
    const shift = (rect) => ({ left: rect.left - box.left + this.container.scrollLeft, top: rect.top - box.top + this.container.scrollTop });
    if (slot.bars) {
      const rect = slot.bars[unit.index].row.getBoundingClientRect();
      const { left, top } = shift(rect);
      return { x: left, y: top, w: rect.width, h: rect.height };
    }
    if (!slot.grid) return null;
    const rect = slot.canvas.getBoundingClientRect();
    const { left, top } = shift(rect);
    const s = rect.width / slot.grid.width;
    const cell = slot.grid.cell(unit);
    return { x: left + cell.x * s, y: top + cell.y * s, w: s, h: s };
  }

  // Edges at `ratio` device pixels per css px (a picture at 2x), or at the screen's own (null).
  setEdgeRatio(ratio) {
    this.edgeRatio = ratio;
    if (this.lastEdges) this.showEdges(...this.lastEdges);
  }

  // Draw the hovered unit, its edges to the units it reads (coloured by signed weight, the
  // strongest emphasised) and its receptive field in the input.
  showEdges(target, connections, regions) {
    this.lastEdges = target ? [target, connections, regions] : null;
    const overlay = this.overlay;
    const ratio = this.edgeRatio || window.devicePixelRatio || 1;
    const width = this.container.scrollWidth;
    const height = this.container.scrollHeight;
    if (overlay.width !== Math.round(width * ratio) || overlay.height !== Math.round(height * ratio)) {
      overlay.width = Math.round(width * ratio);
      overlay.height = Math.round(height * ratio);
      overlay.style.width = `${width}px`;
      overlay.style.height = `${height}px`;
    }
    const context = overlay.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, height);
    overlay.dataset.count = String(connections ? connections.units.length : 0);
    overlay.dataset.unit = target ? target.layer.name : "";
    overlay.dataset.drawn = "0";
    if (!target) return;
    const centre = (r) => ({ x: r.x + r.w / 2, y: r.y + r.h / 2 });
    const origin = this.unitBox(target.layer.name, target);
    if (connections && origin) {
      const start = centre(origin);
      const strengths = connections.units.map((edge) => Math.abs(edge.weight === null ? edge.contribution : edge.contribution));
      const useWeights = connections.units.some((edge) => edge.weight !== null);
      const magnitude = connections.units.map((edge, i) => (useWeights && target.layer.kind !== "dense" ? Math.abs(edge.weight) : strengths[i]));
      const top = Math.max(1e-12, ...magnitude);
      let order = [...connections.units.keys()].sort((a, b) => magnitude[a] - magnitude[b]);
      const strongestOnly = target.layer.kind === "dense" && useWeights && order.length > DENSE_EDGES;
      if (strongestOnly) order = order.slice(-DENSE_EDGES);
      const emphasised = new Set(order.slice(-Math.max(3, Math.ceil(order.length * 0.05))));
      overlay.dataset.drawn = String(order.length);
      for (const i of order) {
        const edge = connections.units[i];
        const box = this.unitBox(connections.from, edge.unit);
        if (!box) continue;
        const end = centre(box);
        context.strokeStyle = edgeColour(edge.weight, magnitude[i] / top);
        // the strongest of a dense unit's edges drawn thicker in proportion, so they read as a ranking
        context.lineWidth = strongestOnly ? 0.8 + 2.2 * (magnitude[i] / top) : emphasised.has(i) && order.length > 16 ? 1.8 : 0.8;
        context.beginPath();
        context.moveTo(start.x, start.y);
        context.lineTo(end.x, end.y);
        context.stroke();
      }
      if (strongestOnly) {
        const label = getComputedStyle(this.container).color || "#ddd";
        context.font = "11px system-ui, sans-serif";
        context.fillStyle = label;
        context.textBaseline = "bottom";
        context.fillText(`${order.length} strongest of ${connections.units.length} inputs`, origin.x, origin.y - 3);
      }
    }
    const accent = getComputedStyle(document.documentElement).getPropertyValue("--highlight").trim() || "#39d353";
    context.lineWidth = 2;
    context.strokeStyle = accent;
    for (const region of regions) {
      if (!region.receptiveField) continue;
      const a = this.unitBox("input", { channel: 0, y: region.box.y0, x: region.box.x0 });
      const b = this.unitBox("input", { channel: 0, y: region.box.y1, x: region.box.x1 });
      if (a && b) context.strokeRect(a.x, a.y, b.x + b.w - a.x, b.y + b.h - a.y);
    }
    overlay.dataset.box = origin ? [origin.x, origin.y, origin.w, origin.h].map((v) => v.toFixed(1)).join(",") : "";
    if (origin) {
      // the theme's ink: white on the dark stage, black on the light one (white would vanish there)
      context.strokeStyle = getComputedStyle(this.container).color || "#fff";
      context.strokeRect(origin.x - 1, origin.y - 1, origin.w + 2, origin.h + 2);
    }
  }
}
