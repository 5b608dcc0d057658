// The units a hovered unit reads in the layer below, as Harley's visualizer draws its edges: a
// convolution unit its kh x kw x c_in patch, a pooling unit its window, a dense unit every input,
// each edge with its weight and its contribution weight x input. Pure computation, no DOM.

import { windowOf } from "./inspector.js";

// -> {from: layer name or "input", units: [{unit, weight, contribution}]}, or null when the unit's
// inputs cannot be traced (a merge, a layer fed by several). `weights` may be null while loading:
// the units are known, their weights not yet.
export function incoming(inspector, target, values, weights) {
  if (!inspector.chain) return null;
  const layer = target.layer;
  const before = inspector.previous(layer);
  const from = before ? before.name : "input";
  const inShape = inspector.shapeOf(before);
  const input = values(from);
  const read = (y, x, c) => (input ? input.values[(y * inShape[1] + x) * inShape[2] + c] : 0);
  const spatial = target.y !== undefined;
  const units = [];
  const kind = layer.kind;

  if ((kind === "conv" && layer.class_name === "Conv2D") || kind === "pool") {
    if (!spatial || inShape.length !== 3) return null;
    const window = windowOf(layer, inShape);
    const [ky, kx] = window.size;
    const top = target.y * window.strides[0] - window.pad[0];
    const left = target.x * window.strides[1] - window.pad[1];
    const channels = kind === "pool" ? [target.channel] : [...Array(inShape[2]).keys()];
    const kernel = kind === "conv" && weights ? weights.kernel : null;
    const outChannels = kernel ? kernel.shape[3] : 0;
    for (let i = 0; i < ky; i++) {
      const y = top + i;
      if (y < 0 || y >= inShape[0]) continue; // padding: no unit there
      for (let j = 0; j < kx; j++) {
        const x = left + j;
        if (x < 0 || x >= inShape[1]) continue;
        for (const c of channels) {
          const weight = kernel ? kernel.data[((i * kx + j) * inShape[2] + c) * outChannels + target.channel] : null;
          const value = read(y, x, c);
          units.push({ unit: { channel: c, y, x }, weight, contribution: weight === null ? value : weight * value });
        }
      }
    }
    return { from, units };
  }
  if (kind === "dense" && !spatial && inShape.length === 1) {
    const kernel = weights ? weights.kernel : null;
    const outUnits = kernel ? kernel.shape[1] : 0;
    for (let i = 0; i < inShape[0]; i++) {
      const weight = kernel ? kernel.data[i * outUnits + target.index] : null;
      const value = input ? input.values[i] : 0;
      units.push({ unit: { index: i }, weight, contribution: weight === null ? 0 : weight * value });
    }
    return { from, units };
  }
  if (kind === "flatten" && !spatial && inShape.length === 3) {
    const [, width, channels] = inShape;
    const unit = { channel: target.index % channels, x: Math.floor(target.index / channels) % width, y: Math.floor(target.index / channels / width) };
    return { from, units: [{ unit, weight: null, contribution: read(unit.y, unit.x, unit.channel) }] };
  }
  if (kind === "global_pool" && !spatial && inShape.length === 3) {
    for (let y = 0; y < inShape[0]; y++)
      for (let x = 0; x < inShape[1]; x++) units.push({ unit: { channel: target.index, y, x }, weight: null, contribution: read(y, x, target.index) });
    return { from, units };
  }
  // element-wise layers (normalisation, activation, dropout): the same unit below
  const same = inShape.length === layer.output_shape.length && inShape.every((n, i) => n === layer.output_shape[i]);
  if (same && !layer.config.kernel_size) {
    const unit = spatial ? { channel: target.channel, y: target.y, x: target.x } : { index: target.index };
    return { from, units: [{ unit, weight: null, contribution: 0 }] };
  }
  return null;
}
