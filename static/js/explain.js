// The explanation panel: an overlay from any method the server lists (GET /api/methods), with its
// faithfulness curves, and every method compared on the current input.

import { api } from "./api.js";
import { curveChart, rankingTable } from "./faithfulness.js";

export class ExplainPanel {
  constructor(root, { currentPixels, onError, onChoice = () => {} }) {
    this.root = root;
    this.onChoice = onChoice; // ({method, class}) the user picked a method or a class
    this.currentPixels = currentPixels;
    this.onError = onError;
    this.method = root.querySelector("#explain-method");
    this.target = root.querySelector("#explain-class");
    this.layer = root.querySelector("#explain-layer");
    this.layer.addEventListener("change", () => { this.layer.title = this.layer.value; });
    this.patch = root.querySelector("#explain-patch");
    this.stride = root.querySelector("#explain-stride");
    this.warning = root.querySelector("#explain-warning");
    this.faithfulness = root.querySelector("#explain-faithfulness");
    this.button = root.querySelector("#explain-run");
    this.compareButton = root.querySelector("#explain-compare");
    this.result = root.querySelector("#explain-result");
    this.comparison = root.querySelector("#explain-comparison");
    // an explanation or comparison made for an earlier input stays, dimmed, under this note
    this.staleNote = Object.assign(document.createElement("p"), {
      className: "explain-stale", hidden: true, textContent: "Made for an earlier input: press Explain again for this one.",
    });
    this.staleNote.setAttribute("role", "status");
    this.staleNote.setAttribute("data-testid", "explain-stale");
    this.result.before(this.staleNote);
    this.madeFor = { result: null, comparison: null }; // the input each one was made for
    this.methods = new Map();
    this.ready = api.methods().then(({ methods }) => {
      for (const m of methods) this.methods.set(m.name, m);
      this.method.replaceChildren(...methods.map((m) => new Option(m.title, m.name)));
      this.syncOptions();
    }, (error) => this.onError(error.detail || String(error)));
    this.method.addEventListener("change", () => {
      this.syncOptions();
      this.onChoice({ method: this.method.value });
    });
    this.target.addEventListener("change", () => this.onChoice({ class: this.target.value }));
    this.button.addEventListener("click", () => this.run());
    this.compareButton.addEventListener("click", () => this.compare());
  }

  // Which inputs a method reads comes from its options' schema.
  uses(method, option) {
    return Boolean(method && method.options && option in method.options);
  }

  setModel(detail) {
    this.detail = detail;
    this.target.replaceChildren(new Option("top prediction", ""), ...detail.classes.map((label, i) => new Option(label, String(i))));
    const spatial = detail.layers.filter((layer) => layer.spatial && !layer.is_container);
    this.layer.replaceChildren(...spatial.map((layer) => Object.assign(new Option(layer.name, layer.name), { title: layer.name })));
    if (detail.default_gradcam_layer) this.layer.value = detail.default_gradcam_layer;
    this.layer.title = this.layer.value;  // the whole name, which the card may cut with an ellipsis
    this.patch.placeholder = String(Math.max(1, Math.round(Math.min(detail.input_shape[0], detail.input_shape[1]) / 7)));
    this.result.replaceChildren();
    this.comparison.replaceChildren();
    this.syncOptions();
    this.showInput(null);
  }

  // The input on screen changed (an answer of the page's feed): what was explained before is marked.
  showInput(input) {
    this.input = input;
    const stale = (part) => this[part].childElementCount > 0 && this.madeFor[part] !== input;
    for (const part of ["result", "comparison"]) this[part].classList.toggle("stale", stale(part));
    const hidden = !(stale("result") || stale("comparison"));
    if (this.staleNote.hidden !== hidden) this.staleNote.hidden = hidden; // on every answer: no change, no style pass
  }

  // Restore a method and a class (from a link); unknown names are ignored.
  async choose({ method, cls }) {
    await this.ready;
    if (method && this.methods.has(method)) this.method.value = method;
    if (cls !== undefined && [...this.target.options].some((option) => option.value === cls)) this.target.value = cls;
    this.syncOptions();
  }

  syncOptions() {
    const method = this.methods.get(this.method.value);
    this.root.querySelector(".explain-layer").hidden = !this.uses(method, "layer");
    this.root.querySelector(".explain-patch").hidden = !this.uses(method, "patch");
    this.warning.textContent = method && method.warning ? `⚠ ${method.warning}` : "";
    this.warning.hidden = !(method && method.warning);
  }

  // Query parameters shared by one explanation and the comparison: the class, and only what the page shows.
  baseParams(method, faithfulness) {
    const params = { ...method.params, fields: "overlay" };
    if (this.target.value !== "") params.class_index = this.target.value;
    if (faithfulness) params.faithfulness = "true";
    return params;
  }

  async run() {
    const pixels = this.currentPixels();
    if (!pixels) return this.onError("Draw or upload something first.");
    await this.ready;
    const method = this.methods.get(this.method.value);
    if (!method) return this.onError("The list of methods could not be loaded from the server.");
    const params = this.baseParams(method, this.faithfulness.checked);
    if (this.uses(method, "layer")) params.layer = this.layer.value;
    if (this.uses(method, "patch") && this.patch.value) params.patch = this.patch.value;
    if (this.uses(method, "patch") && this.stride.value) params.stride = this.stride.value;
    this.button.disabled = true;
    this.button.textContent = "Working…";
    const input = this.input;
    try {
      const answer = await api.explain(this.detail.id, method.endpoint, params, pixels);
      const image = new Image();
      image.src = answer.overlay;
      image.alt = `${method.title} heatmap for class ${answer.label}`;
      image.setAttribute("data-testid", "explain-overlay");
      const where = answer.layer ? ` at ${answer.layer}` : answer.patch ? `, ${answer.patch}px patch, stride ${answer.stride}` : "";
      const caption = document.createElement("figcaption");
      caption.textContent = `${method.title} for “${answer.label}”${where}`;
      const figure = document.createElement("figure");
      figure.append(image, caption);
      if (method.warning) {
        // the warning is printed once, above the method's result; the map keeps a mark of it (as in the ranking)
        const mark = document.createElement("abbr");
        mark.textContent = " ⚠";
        mark.title = method.warning;
        caption.append(mark);
      }
      this.result.replaceChildren(figure);
      if (answer.faithfulness) this.result.append(curveChart(answer.faithfulness));
      this.madeFor.result = input;
      this.showInput(this.input);
    } catch (error) {
      this.onError(error.detail || String(error));
    } finally {
      this.button.disabled = false;
      this.button.textContent = "Explain";
    }
  }

  // Every method on the current input, one after another (long jobs share a per-server limit),
  // ranked by deletion AUC.
  async compare() {
    const pixels = this.currentPixels();
    if (!pixels) return this.onError("Draw or upload something first.");
    await this.ready;
    const methods = [...this.methods.values()];
    const rows = [];
    this.compareButton.disabled = true;
    const input = this.input;
    try {
      for (const [i, method] of methods.entries()) {
        this.compareButton.textContent = `Comparing ${i + 1}/${methods.length}…`;
        try {
          rows.push({ method, answer: await api.explain(this.detail.id, method.endpoint, this.baseParams(method, true), pixels) });
        } catch (error) {
          rows.push({ method, error: error.detail || String(error) });
        }
      }
      const note = document.createElement("p");
      note.className = "muted";
      note.textContent = "Ranked by deletion AUC: the map whose top pixels, removed first, make the class probability fall fastest.";
      this.comparison.replaceChildren(note, rankingTable(rows));
      this.madeFor.comparison = input;
      this.showInput(this.input);
    } finally {
      this.compareButton.disabled = false;
      this.compareButton.textContent = "Compare methods";
    }
  }
}
