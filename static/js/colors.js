// Colour scales for activations: inferno (sequential, for ReLU outputs and probabilities) and a
// blue-white-red diverging scale (for signed values), as 256-entry lookup tables.

const INFERNO = [
  [0.0002189403691192265, 0.001651004631001012, -0.01948089843709184],
  [0.1065134194856116, 0.5639564367884091, 3.932712388889277],
  [11.60249308247187, -3.972853965665698, -15.9423941062914],
  [-41.70399613139459, 17.43639888205313, 44.35414519872813],
  [77.162935699427, -33.40235894210092, -81.80730925738993],
  [-71.31942824499214, 32.62606426397723, 73.20951985803202],
  [25.13112622477341, -12.24266895238567, -23.07032500287172],
];

function table(colour) {
  const lut = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const [r, g, b] = colour(i / 255);
    lut.set([r * 255, g * 255, b * 255], i * 3);
  }
  return lut;
}

const sequential = table((t) =>
  [0, 1, 2].map((c) => INFERNO.reduceRight((acc, coefficients) => acc * t + coefficients[c], 0)),
);
const diverging = table((t) => {
  const u = Math.abs(t * 2 - 1);
  return t < 0.5 ? [1 - u * 0.85, 1 - u * 0.6, 1] : [1, 1 - u * 0.75, 1 - u * 0.85];
});

// The same tables as one 32-bit RGBA word per entry, in the byte order of the machine, so a cell
// is painted with one write (ImageData's bytes are R, G, B, A in memory order).
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
function words(lut) {
  const out = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    const [r, g, b] = [lut[i * 3], lut[i * 3 + 1], lut[i * 3 + 2]];
    out[i] = LITTLE_ENDIAN ? ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0 : ((r << 24) | (g << 16) | (b << 8) | 255) >>> 0;
  }
  return out;
}
const sequentialWords = words(sequential);
const divergingWords = words(diverging);

// Paint `count` values (starting at `offset`, every `stride`) into RGBA `pixels`, scaled to [lo, hi],
// from pixel `at` on. `pixels`: a Uint8ClampedArray (ImageData's), or its Uint32Array view.
export function paint(pixels, values, offset, stride, count, lo, hi, at = 0) {
  const cells = pixels instanceof Uint32Array ? pixels : new Uint32Array(pixels.buffer, pixels.byteOffset, pixels.length >> 2);
  const signed = lo < 0;
  const lut = signed ? divergingWords : sequentialWords;
  const bound = signed ? Math.max(-lo, hi) : hi - lo;
  const scale = bound > 1e-12 ? 255 / (signed ? 2 * bound : bound) : 0; // all-zero maps stay dark, no NaN
  const base = signed ? -bound : lo;
  for (let i = 0; i < count; i++) {
    const x = (values[offset + i * stride] - base) * scale;
    cells[at + i] = lut[x > 0 ? (x < 255 ? Math.round(x) : 255) : 0]; // Math.round(x) clamped to [0, 255]
  }
}

// A legend: the scale as a horizontal gradient.
export function drawLegend(canvas, signed) {
  const context = canvas.getContext("2d");
  const image = context.createImageData(canvas.width, 1);
  const ramp = new Float32Array(canvas.width).map((_, i) => (signed ? (i / (canvas.width - 1)) * 2 - 1 : i / (canvas.width - 1)));
  paint(image.data, ramp, 0, 1, canvas.width, signed ? -1 : 0, 1);
  for (let y = 0; y < canvas.height; y++) context.putImageData(image, 0, y);
}

// Paint a layer's values into the RGBA pixels of its grid image (see layout.js: maps side by side
// with one-cell gaps, or rows of units), in one pass. range(map) -> [lo, hi] for that map.
export function paintGrid(pixels, grid, values, channels, range) {
  if (!grid.spatial) {
    const [lo, hi] = range(0);
    paint(pixels, values, 0, 1, Math.min(values.length, grid.units), lo, hi);
    return;
  }
  const { h, w, columns, width } = grid;
  const cells = new Uint32Array(pixels.buffer, pixels.byteOffset, pixels.length >> 2);
  for (let map = 0; map < grid.maps; map++) {
    const [lo, hi] = range(map);
    const left = (map % columns) * (w + 1);
    const top = Math.floor(map / columns) * (h + 1);
    for (let y = 0; y < h; y++) paint(cells, values, y * w * channels + map, channels, w, lo, hi, (top + y) * width + left);
  }
}

// The range of one channel of an [h, w, c] array, from 0 if all values are positive.
export function channelRange(values, channel, channels) {
  let lo = 0;
  let hi = -Infinity;
  for (let i = channel; i < values.length; i += channels) {
    const v = values[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

// Signed weights as edge colours: red positive, blue negative, alpha for strength in [0, 1].
export function edgeColour(weight, strength) {
  const alpha = (0.12 + 0.88 * strength).toFixed(3);
  if (weight === null || weight === undefined) return `rgba(57, 211, 83, ${alpha})`;
  return weight >= 0 ? `rgba(255, 96, 64, ${alpha})` : `rgba(80, 150, 255, ${alpha})`;
}
