// Small helpers the lesson views share: elements, number formatting, painting a map on a canvas.

import { drawLegend, paint } from "../colors.js";

export function element(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value;
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) node.append(child);
  return node;
}

export const fmt = (value) =>
  Math.abs(value) >= 1000 || (Math.abs(value) < 0.001 && value !== 0) ? value.toExponential(2) : value.toFixed(3);

export function range(values, offset = 0, stride = 1, count = values.length) {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < count; i++) {
    const v = values[offset + i * stride];
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return [lo, hi];
}

// Channel `channel` of an [h, w, c] array (or an [h, w] one) painted one cell per pixel.
export function paintMap(canvas, values, shape, channel = 0, bounds = null) {
  const [height, width] = shape;
  const channels = shape.length === 3 ? shape[2] : 1;
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  const [lo, hi] = bounds || range(values, channel, channels, width * height);
  paint(image.data, values, channel, channels, width * height, lo, hi);
  context.putImageData(image, 0, 0);
}

// The colour key of a map painted by paintMap over [lo, hi]: a signed map's blue-white-red scale is
// symmetric about 0 (paint's), so its ends are ±max(|lo|, hi); a map of positive values runs lo..hi.
export function mapKey(lo, hi) {
  const signed = lo < 0;
  const bound = Math.max(-lo, hi);
  const canvas = element("canvas", { "aria-hidden": "true" });
  canvas.width = 168;
  canvas.height = 10;
  drawLegend(canvas, signed);
  const ends = signed ? [-bound, 0, bound] : [lo, hi];
  const labels = element("div", { class: "map-key-labels" }, ends.map((value) => element("span", { text: fmt(value) })));
  const note = signed ? `blue below 0, red above; this map runs from ${fmt(lo)} to ${fmt(hi)}` : `this map runs from ${fmt(lo)} to ${fmt(hi)}`;
  return [canvas, labels, element("span", { class: "map-key-note", text: note })];
}

// A table of numbers (a kernel, a patch): `pick(i, j)` gives each cell.
export function grid(rows, cols, pick, className = "grid") {
  const table = element("table", { class: className });
  for (let i = 0; i < rows; i++) {
    const tr = element("tr");
    for (let j = 0; j < cols; j++) tr.append(element("td", { text: fmt(pick(i, j)) }));
    table.append(tr);
  }
  return table;
}

export function errorText(error) {
  return error.detail || String(error);
}
