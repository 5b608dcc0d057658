// What a hovered unit computes, from data already on the page: its input patch, its weights, the
// weighted sum, bias and activation (as Harley's info box shows), and the regions it looks at.
// Pure computation: it returns what to show and never fetches or touches the DOM.

const escapeHtml = (text) => String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
// "how was this computed?": static/js/lessons/index.js listens for clicks on [data-how]
const howButton = (layer, target) =>
  `<button type="button" class="how" data-how data-testid="how" data-layer="${escapeHtml(layer.name)}" data-y="${target.y}" data-x="${target.x}" data-channel="${target.channel}">how was this computed?</button>`;
const fmt = (value) => (Math.abs(value) >= 100 || (Math.abs(value) < 0.01 && value !== 0) ? value.toExponential(2) : value.toFixed(3));

const ACTIVATIONS = {
  relu: (z) => Math.max(0, z),
  linear: (z) => z,
  sigmoid: (z) => 1 / (1 + Math.exp(-z)),
  tanh: Math.tanh,
};

function at(array, shape, y, x, c) {
  const [height, width, channels] = shape;
  if (y < 0 || x < 0 || y >= height || x >= width) return 0; // zero padding
  return array[(y * width + x) * channels + c];
}

// Geometry of a windowed layer (conv or pooling) between an input and an output size.
export function windowOf(layer, inShape) {
  const config = layer.config;
  const size = config.kernel_size || config.pool_size;
  if (!size) return null;
  const strides = config.strides || size;
  const [outH, outW] = layer.output_shape;
  const pad = [0, 1].map((axis) => {
    if (config.padding !== "same") return 0;
    const total = Math.max((layer.output_shape[axis] - 1) * strides[axis] + size[axis] - inShape[axis], 0);
    return Math.floor(total / 2);
  });
  return { size, strides, pad, outH, outW };
}

export class Inspector {
  constructor(detail) {
    this.detail = detail;
    this.byName = new Map(detail.layers.map((layer) => [layer.name, layer]));
    // Units can be traced back only through a chain (each layer fed by exactly one other).
    this.chain = detail.layers.every((layer) => layer.is_container || layer.inbound.length === 1);
  }

  previous(layer) {
    const name = layer.inbound[0];
    return name === "input" ? null : this.byName.get(name);
  }

  shapeOf(layer) {
    return layer ? layer.output_shape : this.detail.input_shape;
  }

  // The box [y0, y1] x [x0, x1] (inclusive) of `layer`'s input feeding rows y0..y1, cols x0..x1.
  backOne(layer, box) {
    const inShape = this.shapeOf(this.previous(layer));
    const window = windowOf(layer, inShape);
    if (window) {
      const [sy, sx] = window.strides;
      const [ky, kx] = window.size;
      const [py, px] = window.pad;
      return {
        y0: Math.max(0, box.y0 * sy - py),
        y1: Math.min(inShape[0] - 1, box.y1 * sy - py + ky - 1),
        x0: Math.max(0, box.x0 * sx - px),
        x1: Math.min(inShape[1] - 1, box.x1 * sx - px + kx - 1),
      };
    }
    if (layer.output_shape.length === 3 && inShape.length === 3) return box; // element-wise layers
    return null; // dense, flatten, global pooling: every input
  }

  // Regions to highlight: {layer: name or "input", box} one step back, and in the model input.
  regions(target) {
    if (!this.chain) return [];
    const layer = target.layer;
    const full = (shape) => ({ y0: 0, y1: shape[0] - 1, x0: 0, x1: shape[1] - 1 });
    let box = target.y === undefined ? null : { y0: target.y, y1: target.y, x0: target.x, x1: target.x };
    const regions = [];
    let current = layer;
    let first = true;
    while (current) {
      const before = this.previous(current);
      const inShape = this.shapeOf(before);
      box = box ? this.backOne(current, box) : null;
      if (inShape.length === 3) {
        const region = box || full(inShape);
        if (first) regions.push({ layer: before ? before.name : "input", box: region, channel: this.channelOf(current, target) });
        if (!before) regions.push({ layer: "input", box: region, receptiveField: true });
      }
      first = false;
      current = before;
    }
    return regions;
  }

  channelOf(layer, target) {
    // pooling looks at its own channel only; convolutions and dense units at every channel
    return layer.config.pool_size ? target.channel : null;
  }

  // A dense unit's input i named where a student sees it: after a Flatten, the map, row and column
  // it copies (Keras flattens channels-last: i = (row x width + column) x channels + map); otherwise
  // the unit of the layer before. -> the rest of an <li> tag: its data attributes, then its text.
  denseInput(before, i) {
    const flatten = before && before.class_name === "Flatten";
    const source = flatten ? this.previous(before) : null;
    const shape = flatten ? this.shapeOf(source) : null;
    if (flatten && shape.length === 3) {
      const [, width, channels] = shape;
      const map = i % channels;
      const column = Math.floor(i / channels) % width;
      const row = Math.floor(i / channels / width);
      const name = escapeHtml(source ? source.name : "input");
      return `data-input="${i}" data-map="${map}" data-row="${row}" data-column="${column}">${name} map ${map}, row ${row}, column ${column}`;
    }
    return `data-input="${i}">${escapeHtml(before ? before.name : "input")} unit ${i}`;
  }

  // HTML for the info box. `values(name)` -> {shape, values} of a layer ("input" for the input);
  // `weights` -> {kernel, bias} decoded, or null while loading.
  describe(target, values, weights) {
    const layer = target.layer;
    const own = values(layer.name);
    const spatial = target.y !== undefined;
    const index = spatial ? (target.y * own.shape[1] + target.x) * own.shape[2] + target.channel : target.index;
    const value = own.values[index];
    const where = spatial ? `row ${target.y}, column ${target.x}, channel ${target.channel}` : `unit ${target.index}`;
    const head = `<p class="info-head"><b>${escapeHtml(layer.name)}</b> (${escapeHtml(layer.class_name)}), ${where}</p>`;
    const before = this.previous(layer);
    const input = values(before ? before.name : "input");
    if (!this.chain || !input) return `${head}<p>activation = <b>${fmt(value)}</b></p>`;

    const config = layer.config;
    const activation = config.activation || "linear";
    if (layer.class_name === "Conv2D" && spatial) {
      if (!weights) return `${head}<p>activation = <b>${fmt(value)}</b></p><p class="muted">loading weights…</p>`;
      const window = windowOf(layer, input.shape);
      const [ky, kx] = window.size;
      const channels = input.shape[2];
      const top = target.y * window.strides[0] - window.pad[0];
      const left = target.x * window.strides[1] - window.pad[1];
      const outChannels = weights.kernel.shape[3];
      let sum = 0;
      const perChannel = new Float64Array(channels);
      for (let i = 0; i < ky; i++)
        for (let j = 0; j < kx; j++)
          for (let c = 0; c < channels; c++) {
            const w = weights.kernel.data[((i * kx + j) * channels + c) * outChannels + target.channel];
            const product = w * at(input.values, input.shape, top + i, left + j, c);
            perChannel[c] += product;
            sum += product;
          }
      let strongest = 0;
      perChannel.forEach((v, c) => {
        if (Math.abs(v) > Math.abs(perChannel[strongest])) strongest = c;
      });
      const bias = weights.bias ? weights.bias.data[target.channel] : 0;
      const z = sum + bias;
      const result = (ACTIVATIONS[activation] || ACTIVATIONS.linear)(z);
      const grid = (pick) => {
        let rows = "";
        for (let i = 0; i < ky; i++) {
          rows += "<tr>";
          for (let j = 0; j < kx; j++) rows += `<td>${fmt(pick(i, j))}</td>`;
          rows += "</tr>";
        }
        return `<table class="grid">${rows}</table>`;
      };
      const patch = grid((i, j) => at(input.values, input.shape, top + i, left + j, strongest));
      const kernel = grid((i, j) => weights.kernel.data[((i * kx + j) * channels + strongest) * outChannels + target.channel]);
      return `${head}
        <div class="info-grids">
          <figure><figcaption>input patch${channels > 1 ? ` (channel ${strongest} of ${channels}, the largest contribution)` : ""}</figcaption>${patch}</figure>
          <figure><figcaption>kernel</figcaption>${kernel}</figure>
        </div>
        <p class="computation" data-testid="computation">Σ patch × kernel over ${ky}×${kx}×${channels} = ${fmt(sum)}<br>
        + bias ${fmt(bias)} = ${fmt(z)}<br>
        ${escapeHtml(activation)}(${fmt(z)}) = <b>${fmt(result)}</b></p>
        <p class="muted">the model computed ${fmt(value)}</p>${howButton(layer, target)}`;
    }
    if (config.pool_size && spatial) {
      const window = windowOf(layer, input.shape);
      const top = target.y * window.strides[0] - window.pad[0];
      const left = target.x * window.strides[1] - window.pad[1];
      let rows = "";
      const seen = [];
      for (let i = 0; i < window.size[0]; i++) {
        rows += "<tr>";
        for (let j = 0; j < window.size[1]; j++) {
          const v = at(input.values, input.shape, top + i, left + j, target.channel);
          seen.push(v);
          rows += `<td>${fmt(v)}</td>`;
        }
        rows += "</tr>";
      }
      const isMax = layer.class_name.startsWith("Max");
      const result = isMax ? Math.max(...seen) : seen.reduce((a, b) => a + b, 0) / seen.length;
      return `${head}<div class="info-grids"><figure><figcaption>window (channel ${target.channel})</figcaption><table class="grid">${rows}</table></figure></div>
        <p class="computation" data-testid="computation">${isMax ? "max" : "mean"} of the window = <b>${fmt(result)}</b></p>${howButton(layer, target)}`;
    }
    if (layer.class_name === "Dense") {
      if (!weights) return `${head}<p>activation = <b>${fmt(value)}</b></p><p class="muted">loading weights…</p>`;
      const inputs = input.values.length;
      const units = weights.kernel.shape[1];
      const contributions = [];
      let sum = 0;
      for (let i = 0; i < inputs; i++) {
        const product = weights.kernel.data[i * units + target.index] * input.values[i];
        sum += product;
        contributions.push([i, product]);
      }
      contributions.sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
      const bias = weights.bias ? weights.bias.data[target.index] : 0;
      const z = sum + bias;
      const isSoftmax = activation === "softmax";
      const result = isSoftmax ? value : (ACTIVATIONS[activation] || ACTIVATIONS.linear)(z);
      const top = contributions.slice(0, 5).map(([i, p]) => `<li ${this.denseInput(before, i)}: ${fmt(p)}</li>`).join("");
      const label = this.detail.classes[target.index];
      return `${head}${isSoftmax ? `<p>class <b>${escapeHtml(label)}</b></p>` : ""}
        <p>largest of ${inputs} weighted inputs:</p><ul class="contributions">${top}</ul>
        <p class="computation" data-testid="computation">Σ weight × input over ${inputs} = ${fmt(sum)}<br>
        + bias ${fmt(bias)} = ${fmt(z)}<br>
        ${isSoftmax ? `softmax over the ${units} classes = <b>${fmt(result)}</b>` : `${escapeHtml(activation)}(${fmt(z)}) = <b>${fmt(result)}</b>`}</p>`;
    }
    if (layer.class_name === "Flatten" && input.shape.length === 3) {
      const [, width, channels] = input.shape;
      const c = target.index % channels;
      const x = Math.floor(target.index / channels) % width;
      const y = Math.floor(target.index / channels / width);
      return `${head}<p class="computation" data-testid="computation">copies ${escapeHtml(before ? before.name : "input")} row ${y}, column ${x}, channel ${c} = <b>${fmt(value)}</b></p>`;
    }
    return `${head}<p class="computation" data-testid="computation">activation = <b>${fmt(value)}</b></p>`;
  }
}
