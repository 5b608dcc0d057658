// The explanation panel: Grad-CAM, occlusion and saliency overlays for the current input.

import { api } from "./api.js";

const METHODS = {
  gradcam: { endpoint: "gradcam", params: { method: "gradcam" }, label: "Grad-CAM", usesLayer: true },
  "gradcam++": { endpoint: "gradcam", params: { method: "gradcam++" }, label: "Grad-CAM++", usesLayer: true },
  occlusion: { endpoint: "occlusion", params: {}, label: "Occlusion", usesPatch: true },
  gradient: { endpoint: "saliency", params: { method: "gradient" }, label: "Gradient saliency" },
  smoothgrad: { endpoint: "saliency", params: { method: "smoothgrad" }, label: "SmoothGrad" },
  integrated_gradients: { endpoint: "saliency", params: { method: "integrated_gradients" }, label: "Integrated Gradients" },
};

export class ExplainPanel {
  constructor(root, { currentPixels, onError }) {
    this.root = root;
    this.currentPixels = currentPixels;
    this.onError = onError;
    this.method = root.querySelector("#explain-method");
    this.target = root.querySelector("#explain-class");
    this.layer = root.querySelector("#explain-layer");
    this.patch = root.querySelector("#explain-patch");
    this.stride = root.querySelector("#explain-stride");
    this.button = root.querySelector("#explain-run");
    this.result = root.querySelector("#explain-result");
    this.method.replaceChildren(
      ...Object.entries(METHODS).map(([value, m]) => new Option(m.label, value)),
    );
    this.method.addEventListener("change", () => this.syncOptions());
    this.button.addEventListener("click", () => this.run());
  }

  setModel(detail) {
    this.detail = detail;
    this.target.replaceChildren(new Option("top prediction", ""), ...detail.classes.map((label, i) => new Option(label, String(i))));
    const spatial = detail.layers.filter((layer) => layer.output_shape.length === 3 && !layer.is_container);
    this.layer.replaceChildren(...spatial.map((layer) => new Option(layer.name, layer.name)));
    if (detail.default_gradcam_layer) this.layer.value = detail.default_gradcam_layer;
    this.patch.placeholder = String(Math.max(1, Math.round(Math.min(detail.input_shape[0], detail.input_shape[1]) / 7)));
    this.result.replaceChildren();
    this.syncOptions();
  }

  syncOptions() {
    const method = METHODS[this.method.value];
    this.root.querySelector(".explain-layer").hidden = !method.usesLayer;
    this.root.querySelector(".explain-patch").hidden = !method.usesPatch;
  }

  async run() {
    const pixels = this.currentPixels();
    if (!pixels) return this.onError("Draw or upload something first.");
    const method = METHODS[this.method.value];
    const params = { ...method.params };
    if (this.target.value !== "") params.class_index = this.target.value;
    if (method.usesLayer) params.layer = this.layer.value;
    if (method.usesPatch && this.patch.value) params.patch = this.patch.value;
    if (method.usesPatch && this.stride.value) params.stride = this.stride.value;
    this.button.disabled = true;
    this.button.textContent = "Working…";
    try {
      const answer = await api.explain(this.detail.id, method.endpoint, params, pixels);
      const image = new Image();
      image.src = answer.overlay;
      image.alt = `${method.label} heatmap for class ${answer.label}`;
      image.setAttribute("data-testid", "explain-overlay");
      const where = answer.layer ? ` at ${answer.layer}` : answer.patch ? `, ${answer.patch}px patch, stride ${answer.stride}` : "";
      const caption = document.createElement("figcaption");
      caption.textContent = `${method.label} for “${answer.label}”${where}`;
      const figure = document.createElement("figure");
      figure.append(image, caption);
      this.result.replaceChildren(figure);
    } catch (error) {
      this.onError(error.detail || String(error));
    } finally {
      this.button.disabled = false;
      this.button.textContent = "Explain";
    }
  }
}
