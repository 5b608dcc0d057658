// The pooling lab: max, average and L2-norm pooling of one feature map side by side (POST /pool),
// window and stride settable; the panel that matches the model's own pooling is marked.

import { decodeArray, lessonsApi } from "../api.js";
import { element, errorText, paintMap } from "./util.js";

export class PoolLab {
  constructor(root, { current }) {
    this.current = current;
    const $ = (id) => root.querySelector(`[data-pl=${id}]`);
    this.el = { source: $("source"), channel: $("channel"), window: $("window"), stride: $("stride"), sourceMap: $("source-map"), panels: $("panels"), status: $("status") };
    for (const name of ["source", "channel", "window", "stride"]) this.el[name].addEventListener("change", () => this.run());
  }

  setModel(detail) {
    this.detail = detail;
    const spatial = detail.layers.filter((l) => l.spatial && !l.is_container);
    this.el.source.replaceChildren(new Option("the input", "input"), ...spatial.map((l) => new Option(`${l.name} output`, l.name)));
    const conv = spatial.find((l) => l.class_name === "Conv2D");
    if (conv) this.el.source.value = conv.name;
    this.el.window.value = "";
    this.el.stride.value = "";
  }

  async run() {
    if (!this.detail) return;
    const pixels = this.current().pixels();
    if (!pixels) return;
    const params = { channel: Number(this.el.channel.value) || 0 };
    if (this.el.source.value !== "input") params.layer = this.el.source.value;
    if (this.el.window.value) params.window = this.el.window.value;
    if (this.el.stride.value) params.stride = this.el.stride.value;
    const seq = (this.seq = (this.seq || 0) + 1);
    try {
      const answer = await lessonsApi.pool(this.detail.id, pixels, params);
      if (seq !== this.seq) return;
      const source = decodeArray(answer.source_map);
      paintMap(this.el.sourceMap, source.data, source.shape);
      const names = { max: "max pooling", average: "average pooling", l2: "L2-norm pooling (√Σx²)" };
      this.el.panels.replaceChildren(
        ...answer.panels.map((panel) => {
          const values = decodeArray(panel.pooled);
          const canvas = element("canvas", { class: "lesson-map", "data-kind": panel.kind });
          paintMap(canvas, values.data, values.shape);
          const caption = element("figcaption", { text: names[panel.kind] });
          if (panel.own) caption.append(element("span", { class: "own-badge", "data-testid": "own-pooling", text: ` the model's own (${answer.own_pooling.layer})` }));
          return element("figure", { class: panel.own ? "own" : null }, [canvas, caption]);
        }),
      );
      const own = answer.own_pooling;
      this.el.status.textContent = `window ${answer.window}, stride ${answer.stride}: ${answer.output_size.join("×")} output` +
        (own ? `; the model follows this layer with ${own.kind} pooling, window ${own.window}, stride ${own.stride}` : "");
      this.answer = answer;
    } catch (error) {
      if (seq === this.seq) this.el.status.textContent = errorText(error);
    }
  }
}
