// The invariance explorer: rotation, shift, zoom, shear and flip applied to the current input with
// the network's answer updating live (POST /sweep with steps=1, newest slider state wins), and a
// sweep of one transform drawn as each class's probability against the transform's value.

import { decodeArray, lessonsApi } from "../api.js";
import { element, errorText, paintMap } from "./util.js";

const COLOURS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
const SLIDERS = ["rotate", "shift_x", "shift_y", "zoom", "shear"];

export class InvarianceExplorer {
  constructor(root, { current }) {
    this.current = current;
    const $ = (id) => root.querySelector(`[data-iv=${id}]`);
    this.el = {
      seen: $("seen"), bars: $("bars"), status: $("status"), flip: $("flip"), reset: $("reset"),
      transform: $("transform"), start: $("start"), stop: $("stop"), steps: $("steps"), run: $("run"), plot: $("plot"), legend: $("legend"),
    };
    this.sliders = Object.fromEntries(SLIDERS.map((name) => [name, $(name)]));
    for (const name of SLIDERS) {
      this.sliders[name].addEventListener("input", () => this.update());
    }
    this.el.flip.addEventListener("change", () => this.update());
    this.el.reset.addEventListener("click", () => {
      for (const name of SLIDERS) this.sliders[name].value = name === "zoom" ? "1" : "0";
      this.el.flip.checked = false;
      this.update();
    });
    this.el.transform.addEventListener("change", () => {
      const defaults = { rotate: [-180, 180, 37], shift_x: [-10, 10, 21], shift_y: [-10, 10, 21], zoom: [0.5, 2, 31], shear: [-45, 45, 31] };
      [this.el.start.value, this.el.stop.value, this.el.steps.value] = defaults[this.el.transform.value];
    });
    this.el.run.addEventListener("click", () => this.sweep());
    this.busy = false;
    this.again = false;
  }

  setModel(detail) {
    this.detail = detail;
    const [height, width] = detail.input_shape;
    this.sliders.shift_x.min = -Math.floor(width / 2);
    this.sliders.shift_x.max = Math.floor(width / 2);
    this.sliders.shift_y.min = -Math.floor(height / 2);
    this.sliders.shift_y.max = Math.floor(height / 2);
    this.el.plot.getContext("2d").clearRect(0, 0, this.el.plot.width, this.el.plot.height);
    this.el.legend.replaceChildren();
  }

  base() {
    const values = Object.fromEntries(SLIDERS.map((name) => [name, this.sliders[name].value]));
    return { ...values, flip: this.el.flip.checked };
  }

  // One request in flight; slider moves during it are sent once it answers (only the newest).
  async update() {
    if (!this.detail) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    const pixels = this.current().pixels();
    if (!pixels) return;
    this.busy = true;
    const base = this.base();
    for (const name of SLIDERS) this.sliders[name].nextElementSibling.textContent = base[name];
    try {
      const answer = await lessonsApi.sweep(this.detail.id, pixels, { ...base, transform: "rotate", start: base.rotate, stop: base.rotate, steps: 1 });
      const input = decodeArray(answer.inputs[0]);
      paintMap(this.el.seen, input.data, input.shape, 0, this.detail.input_range);
      this.drawBars(answer.classes, answer.probabilities[0]);
      this.el.status.textContent = "";
    } catch (error) {
      this.el.status.textContent = errorText(error);
    } finally {
      this.busy = false;
      if (this.again) {
        this.again = false;
        this.update();
      }
    }
  }

  drawBars(classes, probabilities) {
    const best = probabilities.indexOf(Math.max(...probabilities));
    this.el.bars.dataset.top = classes[best];
    this.el.bars.replaceChildren(
      ...classes.map((label, i) => {
        const fill = element("span", { class: "bar-fill" });
        fill.style.width = `${(probabilities[i] * 100).toFixed(1)}%`;
        return element("div", { class: `bar${i === best ? " best" : ""}` }, [
          element("span", { class: "bar-label", text: label }),
          element("span", { class: "bar-track" }, [fill]),
          element("span", { class: "bar-value", text: `${(probabilities[i] * 100).toFixed(1)}%` }),
        ]);
      }),
    );
  }

  async sweep() {
    if (!this.detail) return;
    const pixels = this.current().pixels();
    if (!pixels) return;
    const transform = this.el.transform.value;
    const params = { ...this.base(), transform, start: this.el.start.value, stop: this.el.stop.value, steps: this.el.steps.value };
    this.el.run.disabled = true;
    try {
      const answer = await lessonsApi.sweep(this.detail.id, pixels, params);
      this.sweepAnswer = answer;
      this.plot(answer);
      this.el.status.textContent = "";
    } catch (error) {
      this.el.status.textContent = errorText(error);
    } finally {
      this.el.run.disabled = false;
    }
  }

  plot(answer) {
    const canvas = this.el.plot;
    const context = canvas.getContext("2d");
    const { width, height } = canvas;
    const pad = { left: 34, right: 8, top: 8, bottom: 24 };
    const values = answer.values;
    const lo = values[0];
    const hi = values[values.length - 1];
    const sx = (v) => pad.left + (hi === lo ? 0.5 : (v - lo) / (hi - lo)) * (width - pad.left - pad.right);
    const sy = (p) => pad.top + (1 - p) * (height - pad.top - pad.bottom);
    context.fillStyle = "#0b0d12";
    context.fillRect(0, 0, width, height);
    context.strokeStyle = "#2b3140";
    context.strokeRect(pad.left, pad.top, width - pad.left - pad.right, height - pad.top - pad.bottom);
    context.fillStyle = "#98a1b3";
    context.font = "11px system-ui, sans-serif";
    context.fillText("1", 20, sy(1) + 4);
    context.fillText("0", 20, sy(0) + 4);
    context.fillText(String(+lo.toFixed(2)), pad.left, height - 6);
    const last = String(+hi.toFixed(2));
    context.fillText(last, width - pad.right - context.measureText(last).width, height - 6);
    context.fillText(answer.transform, width / 2 - 15, height - 6);
    answer.classes.forEach((label, k) => {
      context.strokeStyle = COLOURS[k % COLOURS.length];
      context.lineWidth = 2;
      context.beginPath();
      values.forEach((v, i) => {
        const p = answer.probabilities[i][k];
        if (i === 0) context.moveTo(sx(v), sy(p));
        else context.lineTo(sx(v), sy(p));
      });
      context.stroke();
    });
    this.el.legend.replaceChildren(
      ...answer.classes.map((label, k) => {
        const key = element("span", { text: label });
        key.style.setProperty("--swatch", COLOURS[k % COLOURS.length]);
        return key;
      }),
    );
  }
}
