// The pad's digit normalisation, computed in the page: the drawing pad's grey bytes -> the 28x28
// MNIST-like field the server's `preprocess: "digit"` gives (app/digits.py `normalise`), before
// the field is mapped to the model's input range (app/preprocess.py `field_to_input`).
//
// Only for the drawings the server's own shortcut handles (app/digits.py `_clean_canvas`: one
// grey channel of bright ink on an exact 0 background, no larger than the work side), and for a
// 28x28 picture the server uses as it is (`is_mnist_like`, which `normalise` checks first); for
// any other picture `padField` returns null and the page asks the server, as it always did.
// A pure module (no DOM, no imports): it runs in a Web Worker as well as on the page.
//
// Exactness. The server works in float32 arrays (numpy), float64 scalars (Python floats) and
// the C code of Pillow and SciPy. Every step below does the same operations in the same order
// and rounds to float32 where the server stores or computes a float32 (`Math.fround`, or storing
// into a Float32Array), so the field is the server's bit for bit (tests/e2e/test_pad_field.py
// checks it on several hundred drawings; JavaScript's Math.sin could differ from C's in its last
// bit, which would move a Lanczos weight by 1e-16). What matters:
//   - a Python float mixed with a float32 array is cast to float32 first (NumPy 2, NEP 50):
//     `ink > 0.02` compares with float32(0.02), `ink / peak` divides in float32;
//   - Python's round() rounds halves to even (round(12.5) == 12), unlike Math.round;
//   - `array.sum()` of float32 adds in float32 by pairwise summation (`pairwiseSum`);
//   - Pillow 13 chooses which resampling pass comes first (`lanczosResize`).
// A new NumPy, SciPy or Pillow that changes one of these changes the server's field by a few
// float32 units at most; the test says so.

export const FIELD = 28; // MNIST's field (app/digits.py FIELD)
export const BOX = 20; // ... and the box its digits were scaled into (BOX)
const STROKE = 2.2; // pen lines thinner than this in the 20 px box are thickened (STROKE)
const WORK_SIDE = 400; // larger pictures are reduced first: not a clean canvas (WORK_SIDE)
const SMALL_SIDE = 48; // below this no local ground or ruling test (SMALL_SIDE)
const BLANK_PEAK = 0.05; // brightest ink below this: a blank pad (`normalise`)

const f32 = Math.fround;
const BYTE = Float32Array.from({ length: 256 }, (_, b) => b / 255); // float32(b) / float32(255)

/**
 * The pad's drawing -> `{ field }`, the server's 28x28 digit field, or null when the server's
 * clean-canvas shortcut would not take this drawing (then only the server can compute it).
 * @param {{shape: number[], bytes: Uint8Array}} grey `shape` [H, W] (or [H, W, 1]), one byte a pixel
 * @returns {{field: Float32Array} | null} `field`: 784 values in [0, 1], row-major 28x28
 */
export function padField(grey) {
  const image = pixels(grey);
  if (!image) return null;
  if (isMnistLike(image)) return { field: image.values.slice() }; // used exactly as it is
  if (!isCleanCanvas(image)) return null; // the general ink-map path: the server's job
  const ink = image.values; // a clean canvas's ink map is its grey, unchanged
  const peak = maximum(ink);
  if (peak < BLANK_PEAK) return { field: new Float32Array(FIELD * FIELD) }; // MNIST's blank
  const scaled = new Float32Array(ink.length);
  for (let i = 0; i < ink.length; i++) scaled[i] = ink[i] / peak; // stored as float32(ink / peak)
  const threshold = inkThreshold(scaled);
  const mask = keepDigit(above(scaled, threshold), image.height, image.width);
  return { field: digitFromInk({ ...image, values: scaled }, mask) };
}

// ------------------------------------------------------------------------------------ pixels
// app/api/live_binary.py `binary_message`: the bytes as float32 values b / 255.
function pixels(grey) {
  const shape = (grey && grey.shape) || [];
  const [height, width, channels = 1] = shape;
  if (!(shape.length === 2 || shape.length === 3) || !(height >= 1 && width >= 1 && channels === 1) || !grey.bytes || grey.bytes.length !== height * width) return null;
  const values = new Float32Array(height * width);
  for (let i = 0; i < values.length; i++) values[i] = BYTE[grey.bytes[i]];
  return { height, width, values };
}

function maximum(values) {
  let peak = -Infinity;
  for (let i = 0; i < values.length; i++) if (values[i] > peak) peak = values[i];
  return peak;
}

// The pixels along the picture's edge, in `_border`'s order: top row, bottom row, then the left
// and right columns without their corners.
function border({ height, width, values }) {
  const out = [];
  for (let x = 0; x < width; x++) out.push(values[x]);
  for (let x = 0; x < width; x++) out.push(values[(height - 1) * width + x]);
  for (let y = 1; y < height - 1; y++) out.push(values[y * width]);
  for (let y = 1; y < height - 1; y++) out.push(values[y * width + width - 1]);
  return Float32Array.from(out);
}

// `not _border(gray).any()`: the first and last rows and columns all 0.
function borderIsBlack({ height, width, values }) {
  for (let x = 0; x < width; x++) if (values[x] !== 0 || values[(height - 1) * width + x] !== 0) return false;
  for (let y = 0; y < height; y++) if (values[y * width] !== 0 || values[y * width + width - 1] !== 0) return false;
  return true;
}

// numpy's sum (`a.sum()`, an add reduction): pairwise summation, 8 accumulators per block of at
// most 128 values (numpy/_core/src/umath/loops_utils.h.src `pairwise_sum`). `round` is
// Math.fround for float32 arrays (which numpy sums in float32), the identity for float64.
function pairwiseSum(a, start, n, round) {
  if (n < 8) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum = round(sum + a[start + i]);
    return sum;
  }
  if (n <= 128) {
    const r = [];
    for (let j = 0; j < 8; j++) r.push(a[start + j]);
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] = round(r[j] + a[start + i + j]);
    let sum = round(round(round(r[0] + r[1]) + round(r[2] + r[3])) + round(round(r[4] + r[5]) + round(r[6] + r[7])));
    for (; i < n; i++) sum = round(sum + a[start + i]);
    return sum;
  }
  let half = Math.floor(n / 2);
  half -= half % 8;
  return round(pairwiseSum(a, start, half, round) + pairwiseSum(a, start + half, n - half, round));
}

const identity = (x) => x;

// scipy.ndimage.center_of_mass: the float32 total (pairwise, in float32), and the row and column
// moments in float64 (pairwise), each divided by the total.
function centreOfMass(values, height, width) {
  const total = f32(0 + pairwiseSum(values, 0, values.length, f32));
  const rows = new Float64Array(values.length);
  const columns = new Float64Array(values.length);
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i++) {
      rows[i] = values[i] * y;
      columns[i] = values[i] * x;
    }
  }
  return [pairwiseSum(rows, 0, rows.length, identity) / total, pairwiseSum(columns, 0, columns.length, identity) / total];
}

// Python's round(x) for a float: halves go to the even neighbour.
function roundHalfEven(x) {
  const floor = Math.floor(x);
  const rest = x - floor;
  if (rest !== 0.5) return rest < 0.5 ? floor : floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

// ---------------------------------------------------------------- which path the server takes
// app/digits.py `is_mnist_like`: a 28x28 field of bright ink on black, its longer side 17-21 px
// above half brightness, centred by mass within a pixel, is used exactly as it is.
function isMnistLike(image) {
  const { height, width, values } = image;
  if (height !== FIELD || width !== FIELD) return false;
  const sorted = values.slice().sort();
  const middle = values.length / 2;
  const median = f32(f32(sorted[middle - 1] + sorted[middle]) / 2); // np.median: the mean of the middle two
  const edge = border(image);
  const edgeMean = f32(pairwiseSum(edge, 0, edge.length, f32) / edge.length);
  const peak = maximum(values);
  if (median > 0.05 || edgeMean > 0.05 || peak < 0.5) return false;
  const bright = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) bright[i] = values[i] > 0.5 * peak ? 1 : 0;
  const box = boundingBox(bright, height, width);
  const side = Math.max(box.bottom - 1 - box.top, box.right - 1 - box.left) + 1;
  if (side < 17 || side > 21) return false;
  const [cy, cx] = centreOfMass(values, height, width);
  return Math.max(Math.abs(cy - FIELD / 2), Math.abs(cx - FIELD / 2)) <= 1.0;
}

// app/digits.py `_clean_canvas`: the whole-array tests that prove the general ink-map steps
// (ground, noise floor, local ground, rulings) would leave the picture unchanged. When they all
// pass, the ink map is the grey itself; when any fails, the server takes the general path.
function isCleanCanvas(image) {
  const { height, width, values } = image;
  if (Math.max(height, width) > WORK_SIDE) return false;
  if (!borderIsBlack(image)) return false; // and bytes are never below 0
  let zeros = 0;
  for (let i = 0; i < values.length; i++) zeros += values[i] === 0 ? 1 : 0;
  if (2 * zeros < values.length + 2) return false; // more than half the pixels exactly 0
  if (Math.min(height, width) >= SMALL_SIDE) {
    const size = Math.max(3, Math.floor(Math.min(height, width) / 3) | 1);
    if (anyWindowAllInked(values, height, width, size)) return false; // minimum_filter(...).any()
    if (anyLineMostlyInked(values, height, width)) return false; // no ruling band possible
  }
  return true;
}

// scipy.ndimage.minimum_filter(gray, size).any() for values >= 0: whether some size x size
// window is inked everywhere. (Its 'reflect' border repeats pixels already inside the window, so
// a window is clipped at the picture's edge.) Two passes: along the rows, then down the columns.
function anyWindowAllInked(values, height, width, size) {
  const half = Math.floor(size / 2);
  const across = new Uint8Array(values.length); // the row's window around (y, x) is all inked
  const run = new Int32Array(Math.max(height, width) + 1); // inked pixels before each position
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) run[x + 1] = run[x] + (values[y * width + x] > 0 ? 1 : 0);
    for (let x = 0; x < width; x++) {
      const from = Math.max(0, x - half), to = Math.min(width, x + half + 1);
      across[y * width + x] = run[to] - run[from] === to - from ? 1 : 0;
    }
  }
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) run[y + 1] = run[y] + across[y * width + x];
    for (let y = 0; y < height; y++) {
      const from = Math.max(0, y - half), to = Math.min(height, y + half + 1);
      if (run[to] - run[from] === to - from) return true;
    }
  }
  return false;
}

// `(inked.mean(axis=1) >= 0.9).any() or (inked.mean(axis=0) >= 0.9).any()`.
function anyLineMostlyInked(values, height, width) {
  const rows = new Int32Array(height), columns = new Int32Array(width);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (values[y * width + x] > 0) {
        rows[y]++;
        columns[x]++;
      }
    }
  }
  return rows.some((n) => n / width >= 0.9) || columns.some((n) => n / height >= 0.9);
}

// ------------------------------------------------------------------------ threshold and specks
// app/digits.py `ink_threshold` and `otsu`: Otsu's threshold of the ink above 0.02, as the centre
// of one of 64 histogram bins over [0, 1], at least 0.15.
function inkThreshold(ink) {
  const low = f32(0.02);
  const histogram = new Float64Array(64);
  let marked = 0;
  for (let i = 0; i < ink.length; i++) {
    if (ink[i] > low) {
      histogram[Math.min(63, Math.floor(ink[i] * 64))]++; // np.histogram's bin: edges k/64 are exact
      marked++;
    }
  }
  return Math.max(0.15, marked ? otsu(histogram) : 0.15);
}

// app/digits.py `otsu`, from its histogram: the split that maximises the between-class variance
// (float64 cumulative sums, the first maximum wins, as np.argmax).
function otsu(histogram) {
  const centres = histogram.map((_, k) => (2 * k + 1) / 128);
  const w0 = new Float64Array(64), m0 = new Float64Array(64);
  for (let k = 0, w = 0, m = 0; k < 64; k++) {
    w += histogram[k];
    m += histogram[k] * centres[k];
    w0[k] = w;
    m0[k] = m;
  }
  let best = 0, bestBetween = -Infinity;
  for (let k = 0; k < 64; k++) {
    const w1 = w0[63] - w0[k];
    const mean0 = m0[k] / Math.max(w0[k], 1e-12);
    const mean1 = (m0[63] - m0[k]) / Math.max(w1, 1e-12);
    const between = w0[k] * w1 * (mean0 - mean1) ** 2;
    if (between > bestBetween) [best, bestBetween] = [k, between];
  }
  return centres[best];
}

// `ink > threshold`, the threshold cast to float32 as numpy does.
function above(ink, threshold) {
  const level = f32(threshold);
  const mask = new Uint8Array(ink.length);
  for (let i = 0; i < ink.length; i++) mask[i] = ink[i] > level ? 1 : 0;
  return mask;
}

// scipy.ndimage.label(mask, structure=np.ones((3, 3))): 8-connected components, numbered from 1,
// with each component's area and bounding box (ndimage.find_objects).
function components(mask, height, width) {
  const labels = new Int32Array(mask.length);
  const pieces = [null];
  const stack = [];
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || labels[start]) continue;
    const piece = { area: 0, top: height, left: width, bottom: 0, right: 0 };
    const label = pieces.push(piece) - 1;
    labels[start] = label;
    stack.push(start);
    while (stack.length) {
      const i = stack.pop();
      const y = Math.floor(i / width), x = i - y * width;
      piece.area++;
      piece.top = Math.min(piece.top, y);
      piece.bottom = Math.max(piece.bottom, y + 1);
      piece.left = Math.min(piece.left, x);
      piece.right = Math.max(piece.right, x + 1);
      for (let ny = Math.max(0, y - 1); ny <= Math.min(height - 1, y + 1); ny++) {
        for (let nx = Math.max(0, x - 1); nx <= Math.min(width - 1, x + 1); nx++) {
          const j = ny * width + nx;
          if (mask[j] && !labels[j]) {
            labels[j] = label;
            stack.push(j);
          }
        }
      }
    }
  }
  return { labels, pieces };
}

// app/digits.py `keep_digit`: specks dropped. Components under a tenth of the largest go, unless
// they are at least 2% of it and lie close to the kept ones' box (a broken stroke).
function keepDigit(mask, height, width) {
  const { labels, pieces } = components(mask, height, width);
  if (pieces.length - 1 <= 1) return mask;
  const largest = Math.max(...pieces.slice(1).map((p) => p.area));
  const big = pieces.map((p) => p !== null && p.area >= 0.1 * largest);
  const kept = labelled(labels, big);
  const box = boundingBox(kept, height, width);
  const reach = 0.2 * Math.max(box.bottom - 1 - box.top, box.right - 1 - box.left) + 1;
  const keep = pieces.map(
    (p, label) =>
      big[label] ||
      (p !== null &&
        p.area >= 0.02 * largest &&
        p.top >= box.top - reach &&
        p.bottom <= box.bottom + reach &&
        p.left >= box.left - reach &&
        p.right <= box.right + reach),
  );
  return labelled(labels, keep);
}

// The mask of the pixels whose component is chosen (`np.isin(labels, chosen)`).
function labelled(labels, chosen) {
  const mask = new Uint8Array(labels.length);
  for (let i = 0; i < labels.length; i++) mask[i] = chosen[labels[i]] ? 1 : 0;
  return mask;
}

// The rows and columns holding a nonzero value: (top, left, bottom, right), bottom and right
// one past the last, as `np.flatnonzero(m.any(axis=1))` and its first and last + 1.
function boundingBox(mask, height, width) {
  let top = height, bottom = 0, left = width, right = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (mask[y * width + x]) {
        top = Math.min(top, y);
        bottom = Math.max(bottom, y + 1);
        left = Math.min(left, x);
        right = Math.max(right, x + 1);
      }
    }
  }
  return { top, left, bottom, right };
}

// ------------------------------------------------------------------------------ MNIST's steps
// app/digits.py `digit_from_ink`: crop to the digit, thicken thin pen lines, scale the longer
// side to 20 px (Lanczos), place in 28x28 and shift the centre of mass to the centre.
function digitFromInk(ink, mask) {
  const { height, width, values } = ink;
  const digit = withSoftEdges(values, mask, height, width);
  const box = boundingBox(digit, height, width);
  const cropHeight = box.bottom - box.top, cropWidth = box.right - box.left;
  const strong = Math.max(percentile90(values, mask), 1e-6); // stroke cores saturate, as MNIST's
  let crop = new Float32Array(cropHeight * cropWidth);
  for (let y = 0; y < cropHeight; y++) {
    for (let x = 0; x < cropWidth; x++) {
      const i = (box.top + y) * width + box.left + x;
      const v = f32(values[i] / f32(strong));
      crop[y * cropWidth + x] = digit[i] ? Math.min(1, Math.max(0, v)) : 0;
    }
  }

  const factor = BOX / Math.max(cropHeight, cropWidth);
  const widthInBox = strokeWidth(mask, width, box) * factor;
  if (widthInBox < STROKE) {
    const radius = roundHalfEven((STROKE - widthInBox) / factor / 2); // dilation adds 2 * radius
    if (radius >= 1) crop = dilateWithDisk(crop, cropHeight, cropWidth, radius);
  }
  const boxWidth = Math.max(1, roundHalfEven(cropWidth * factor));
  const boxHeight = Math.max(1, roundHalfEven(cropHeight * factor));
  const scaled = lanczosResize(crop, cropHeight, cropWidth, boxHeight, boxWidth);
  normaliseToPeak(clip(scaled, 0, 1), 1);

  const field = new Float32Array(FIELD * FIELD);
  const y0 = Math.floor((FIELD - boxHeight) / 2), x0 = Math.floor((FIELD - boxWidth) / 2);
  for (let y = 0; y < boxHeight; y++) field.set(scaled.subarray(y * boxWidth, (y + 1) * boxWidth), (y0 + y) * FIELD + x0);
  const [cy, cx] = centreOfMass(field, FIELD, FIELD);
  const centred = shiftLinear(field, FIELD / 2 - cy, FIELD / 2 - cx); // MNIST: mass at index 14.0
  return normaliseToPeak(clip(centred, 0, Infinity)); // MNIST strokes peak at 255
}

// `ndimage.binary_dilation(mask, np.ones((3, 3))) & (ink > 0) | mask`: the pixels above the
// threshold and the fainter ink touching them (the strokes' soft edges).
function withSoftEdges(values, mask, height, width) {
  const digit = new Uint8Array(mask.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (mask[i]) {
        digit[i] = 1;
        continue;
      }
      if (!(values[i] > 0)) continue;
      search: for (let ny = Math.max(0, y - 1); ny <= Math.min(height - 1, y + 1); ny++) {
        for (let nx = Math.max(0, x - 1); nx <= Math.min(width - 1, x + 1); nx++) {
          if (mask[ny * width + nx]) {
            digit[i] = 1;
            break search;
          }
        }
      }
    }
  }
  return digit;
}

// `np.percentile(ink[mask], 90)` of a float32 array ('linear' method): between the two sorted
// values around (n - 1) * 0.9, interpolated in float32 as numpy's `_lerp` does.
function percentile90(values, mask) {
  let n = 0;
  for (let i = 0; i < mask.length; i++) n += mask[i];
  const sorted = new Float32Array(n);
  for (let i = 0, j = 0; i < values.length; i++) if (mask[i]) sorted[j++] = values[i];
  sorted.sort();
  const at = (n - 1) * 0.9;
  if (at >= n - 1) return sorted[n - 1];
  const below = Math.floor(at);
  const t = at - below;
  const a = sorted[below], b = sorted[below + 1];
  const step = f32(b - a);
  return t >= 0.5 ? f32(b - f32(step * f32(1 - t))) : f32(a + f32(step * f32(t)));
}

// app/digits.py `_stroke_width` of the mask's crop: 2 * area / perimeter, the perimeter being the
// pixels with a 4-neighbour outside the mask (the crop's edge counts as outside).
function strokeWidth(mask, width, box) {
  let area = 0, perimeter = 0;
  const inside = (y, x) => y >= box.top && y < box.bottom && x >= box.left && x < box.right && mask[y * width + x];
  for (let y = box.top; y < box.bottom; y++) {
    for (let x = box.left; x < box.right; x++) {
      if (!mask[y * width + x]) continue;
      area++;
      if (!(inside(y - 1, x) && inside(y + 1, x) && inside(y, x - 1) && inside(y, x + 1))) perimeter++;
    }
  }
  return area === 0 ? 0 : (2 * area) / Math.max(1, perimeter);
}

// `ndimage.grey_dilation(crop, footprint=_disk(radius))`: each pixel the largest value within
// the disk around it. (Its 'reflect' border only repeats pixels nearer than the disk's own.)
function dilateWithDisk(values, height, width, radius) {
  const out = new Float32Array(values.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let peak = 0;
      for (let dy = -radius; dy <= radius; dy++) {
        const ny = y + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -radius; dx <= radius; dx++) {
          const nx = x + dx;
          if (nx >= 0 && nx < width && dx * dx + dy * dy <= radius * radius) peak = Math.max(peak, values[ny * width + nx]);
        }
      }
      out[y * width + x] = peak;
    }
  }
  return out;
}

// Pillow's Image.resize(size, Resampling.LANCZOS) of a float32 ("F") image, as app/digits.py
// `resize_plane` calls it (Pillow 13 src/libImaging/Resample.c `ImagingResampleInner`): two
// passes, each skipped when that side keeps its size, each summing in double and storing float32.
// The horizontal pass comes first unless the height shrinks by more than twice what the width
// does (Pillow 13's order; Pillow 12 always went horizontal first, and the order changes the
// float32 rounding in between).
function lanczosResize(values, height, width, outHeight, outWidth) {
  const verticalFirst = height - outHeight > 0 && height - outHeight > (width - outWidth) * 2;
  let image = { values, height, width };
  const passes = verticalFirst ? [resizeColumns, resizeRows] : [resizeRows, resizeColumns];
  for (const pass of passes) image = pass(image, outHeight, outWidth);
  return image.values === values ? values.slice() : image.values;
}

// Pillow's `ImagingResampleHorizontal_32bpc`: each row resampled to `outWidth` pixels.
function resizeRows(image, outHeight, outWidth) {
  const { values, height, width } = image;
  if (outWidth === width) return image;
  const { bounds, weights } = resampleWeights(width, outWidth);
  const out = new Float32Array(height * outWidth);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < outWidth; x++) {
      const [first, count] = bounds[x], k = weights[x];
      let sum = 0;
      for (let j = 0; j < count; j++) sum += values[y * width + first + j] * k[j];
      out[y * outWidth + x] = sum;
    }
  }
  return { values: out, height, width: outWidth };
}

// Pillow's `ImagingResampleVertical_32bpc`: each column resampled to `outHeight` pixels.
function resizeColumns(image, outHeight) {
  const { values, height, width } = image;
  if (outHeight === height) return image;
  const { bounds, weights } = resampleWeights(height, outHeight);
  const out = new Float32Array(outHeight * width);
  for (let y = 0; y < outHeight; y++) {
    const [first, count] = bounds[y], k = weights[y];
    for (let x = 0; x < width; x++) {
      let sum = 0;
      for (let j = 0; j < count; j++) sum += values[(first + j) * width + x] * k[j];
      out[y * width + x] = sum;
    }
  }
  return { values: out, height: outHeight, width };
}

// Pillow's `precompute_coeffs` for the Lanczos filter (support 3): for each output pixel, the
// first input pixel and how many it reads, and their weights, normalised to sum to 1.
function resampleWeights(inSize, outSize) {
  const scale = inSize / outSize;
  const filterScale = Math.max(1, scale);
  const support = 3 * filterScale;
  const inverse = 1 / filterScale;
  const bounds = [], weights = [];
  for (let xx = 0; xx < outSize; xx++) {
    const centre = 0 + (xx + 0.5) * scale;
    const first = Math.max(0, Math.trunc(centre - support + 0.5)); // C's (int) cast truncates
    const last = Math.min(inSize, Math.trunc(centre + support + 0.5));
    const k = [];
    let total = 0;
    for (let x = 0; x < last - first; x++) {
      const w = lanczos((x + first - centre + 0.5) * inverse);
      k.push(w);
      total += w;
    }
    if (total !== 0) for (let x = 0; x < k.length; x++) k[x] /= total;
    bounds.push([first, last - first]);
    weights.push(k);
  }
  return { bounds, weights };
}

// Pillow's `lanczos_filter`: sinc(x) * sinc(x / 3) on [-3, 3).
function lanczos(x) {
  return -3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0;
}

function sinc(x) {
  if (x === 0.0) return 1.0;
  const t = x * Math.PI;
  return Math.sin(t) / t;
}

// `np.clip(values, low, high)`, in place.
function clip(values, low, high) {
  for (let i = 0; i < values.length; i++) values[i] = Math.min(high, Math.max(low, values[i]));
  return values;
}

// `values / max(values.max(), 1e-6)` in float32 (then clipped to `high`, when given), in place.
function normaliseToPeak(values, high = Infinity) {
  const divisor = f32(Math.max(maximum(values), 1e-6));
  for (let i = 0; i < values.length; i++) values[i] = Math.min(high, f32(values[i] / divisor));
  return values;
}

// `scipy.ndimage.shift(field, (dy, dx), order=1, mode="constant")` (scipy ndimage/src
// ni_interpolation.c `NI_ZoomShift`): each output pixel reads the input at (y - dy, x - dx) by
// bilinear interpolation; a pixel whose source row or column is outside [0, 27] is 0.
function shiftLinear(field, dy, dx) {
  const rows = linearTaps(-dy), columns = linearTaps(-dx);
  const out = new Float32Array(FIELD * FIELD);
  for (let y = 0; y < FIELD; y++) {
    const row = rows[y];
    if (!row) continue;
    for (let x = 0; x < FIELD; x++) {
      const column = columns[x];
      if (!column) continue;
      let sum = 0.0; // the four taps in scipy's order, each value * row weight * column weight
      for (let a = 0; a < 2; a++) {
        for (let b = 0; b < 2; b++) sum += field[row.index[a] * FIELD + column.index[b]] * row.weight[a] * column.weight[b];
      }
      out[y * FIELD + x] = sum;
    }
  }
  return out;
}

// For each output index along one axis: the two input indices it reads and their weights
// (scipy's order-1 `get_spline_interpolation_weights`), or null where the source is outside.
function linearTaps(offset) {
  const taps = [];
  for (let k = 0; k < FIELD; k++) {
    const at = k + offset;
    if (!(at >= 0 && at <= FIELD - 1)) {
      taps.push(null); // mode "constant": no interpolation beyond the edges
      continue;
    }
    const start = Math.floor(at);
    const w0 = 1.0 - (at - start);
    // past the last pixel the second tap is mirrored (scipy's spline boundary); its weight is 0
    const next = start + 1 <= FIELD - 1 ? start + 1 : 2 * FIELD - 2 - (start + 1);
    taps.push({ index: [start, next], weight: [w0, 1.0 - w0] });
  }
  return taps;
}
