// The kernel lab: one kernel (a preset, a learned first-layer kernel, or typed in) slid over the
// input or one channel of a layer's output, with stride, padding and ReLU; computed by the server
// (POST /kernel) so the page shows exactly what the API returns.

import { decodeArray, lessonsApi } from "../api.js";
import { element, errorText, mapKey, paintMap, range } from "./util.js";

export class KernelLab {
  constructor(root, { current }) {
    this.current = current;
    const $ = (id) => root.querySelector(`[data-kl=${id}]`);
    this.el = {
      source: $("source"), channel: $("channel"), preset: $("preset"), size: $("size"), kernel: $("kernel"),
      stride: $("stride"), padding: $("padding"), relu: $("relu"), sourceMap: $("source-map"), result: $("result"),
      legend: $("legend"), formula: $("formula"), status: $("status"),
    };
    this.el.preset.addEventListener("change", () => this.usePreset());
    this.el.size.addEventListener("change", () => this.setKernel(resize(this.kernel(), Number(this.el.size.value))));
    for (const name of ["source", "channel", "stride", "padding", "relu"]) this.el[name].addEventListener("change", () => this.run());
    this.el.kernel.addEventListener("change", () => this.run());
  }

  async setModel(detail) {
    this.detail = detail;
    const spatial = detail.layers.filter((l) => l.spatial && !l.is_container);
    this.el.source.replaceChildren(new Option("the input", "input"), ...spatial.map((l) => new Option(`${l.name} output`, l.name)));
    try {
      const { presets } = await lessonsApi.kernelPresets(detail.id);
      this.presets = new Map(presets.map((p) => [p.name, p]));
      this.el.preset.replaceChildren(...presets.map((p) => new Option(p.label, p.name)));
      this.el.preset.value = "edge";
      this.usePreset();
    } catch (error) {
      this.el.status.textContent = errorText(error);
    }
  }

  usePreset() {
    const preset = this.presets.get(this.el.preset.value);
    if (preset) this.setKernel(preset.kernel);
  }

  setKernel(rows) {
    this.el.size.value = String(rows.length);
    const table = element("table", { class: "kl-kernel" });
    rows.forEach((row, i) => {
      const tr = element("tr");
      row.forEach((value, j) => {
        const input = element("input", { type: "number", step: "any", value: String(+value.toFixed(4)), "aria-label": `kernel row ${i + 1}, column ${j + 1}` });
        tr.append(element("td", {}, [input]));
      });
      table.append(tr);
    });
    this.el.kernel.replaceChildren(table);
    this.run();
  }

  kernel() {
    return [...this.el.kernel.querySelectorAll("tr")].map((tr) => [...tr.querySelectorAll("input")].map((input) => Number(input.value) || 0));
  }

  async run() {
    if (!this.detail || !this.presets) return;
    const pixels = this.current().pixels();
    if (!pixels) return;
    const options = {
      kernel: this.kernel(),
      stride: Number(this.el.stride.value) || 1,
      padding: this.el.padding.value,
      activation: this.el.relu.checked ? "relu" : "none",
      channel: Number(this.el.channel.value) || 0,
      ...(this.el.source.value === "input" ? {} : { layer: this.el.source.value }),
    };
    const seq = (this.seq = (this.seq || 0) + 1);
    try {
      const answer = await lessonsApi.kernel(this.detail.id, pixels, options);
      if (seq !== this.seq) return;
      const source = decodeArray(answer.source_map);
      paintMap(this.el.sourceMap, source.data, source.shape);
      const result = decodeArray(answer.feature_map);
      paintMap(this.el.result, result.data, result.shape);
      this.el.legend.replaceChildren(...mapKey(...range(result.data)));
      this.el.result.dataset.shape = answer.output_size.join("x");
      this.el.formula.replaceChildren(
        element("span", { text: `output size = ⌊(W − K + 2P) / S⌋ + 1, with ${paddingWords(answer.paddings)}` }),
        element("br"),
        element("span", { text: `rows: ${answer.formula[0]}` }),
        element("br"),
        element("span", { text: `columns: ${answer.formula[1]}` }),
      );
      this.el.status.textContent = "";
      this.answer = answer;
    } catch (error) {
      if (seq === this.seq) this.el.status.textContent = errorText(error);
    }
  }
}

// The zeros added around the map, in words: "no padding", or "1 row of zeros above and 1 below, ...".
function paddingWords({ top, bottom, left, right }) {
  if (!top && !bottom && !left && !right) return "no padding (P = 0)";
  const count = (n, unit) => `${n} ${unit}${n === 1 ? "" : "s"}`;
  return `${count(top, "row")} of zeros above and ${bottom} below, ${count(left, "column")} left and ${right} right`;
}

function resize(rows, size) {
  return Array.from({ length: size }, (_, i) => Array.from({ length: size }, (_, j) => (rows[i] && rows[i][j] !== undefined ? rows[i][j] : 0)));
}
