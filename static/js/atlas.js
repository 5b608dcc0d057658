// The Filters card: a whole layer's filter patterns (an atlas), with progress while computed.

import { api } from "./api.js";

export class AtlasCard {
  constructor(root, { onError }) {
    this.layer = root.querySelector("#atlas-layer");
    this.layer.addEventListener("change", () => { this.layer.title = this.layer.value; });
    this.button = root.querySelector("#atlas-run");
    this.progress = root.querySelector("#atlas-progress");
    this.result = root.querySelector("#atlas-result");
    this.onError = onError;
    this.button.addEventListener("click", () => this.show());
  }

  setModel(detail) {
    this.detail = detail;
    const spatial = detail.layers.filter((layer) => layer.spatial && !layer.is_container);
    this.layer.replaceChildren(...spatial.map((layer) => Object.assign(new Option(`${layer.name} (${layer.output_shape[2]})`, layer.name), { title: layer.name })));
    this.layer.title = this.layer.value;  // the whole name, which the card may cut with an ellipsis
    this.result.replaceChildren();
  }

  async show() {
    const layer = this.layer.value;
    const { progress, button, result } = this;
    button.disabled = true;
    progress.hidden = false;
    progress.value = 0;
    result.replaceChildren();
    try {
      const atlas = await api.atlas(this.detail.id, layer, (done, total, preview) => {
        progress.max = total;
        progress.value = done;
        if (preview) {  // the patterns as they form, replaced by the result
          const forming = new Image();
          forming.src = preview;
          forming.alt = `filter patterns of ${layer} as they form`;
          forming.setAttribute("data-testid", "atlas-preview");
          result.replaceChildren(forming);
        }
      });
      result.replaceChildren();
      const image = new Image();
      image.src = atlas.png;
      image.alt = `filter patterns of every channel of ${layer}`;
      image.setAttribute("data-testid", "atlas");
      const caption = document.createElement("figcaption");
      caption.textContent = `${layer}: ${atlas.count} patterns, row by row from channel 0`;
      const figure = document.createElement("figure");
      figure.append(image, caption);
      result.append(figure);
    } catch (error) {
      this.onError(error.detail || String(error));
    } finally {
      button.disabled = false;
      progress.hidden = true;
    }
  }
}
