// The unit info box and its edges: what the hovered (or clicked, pinned) unit computes, from the
// activations on the page and the layer's public weights, and the units it reads drawn as edges by
// the active view. A click pins a unit (the page state keeps it, so a link restores it); actions
// (buttons under the box) can be added by other views.

import { api, decodeArray } from "./api.js";
import { incoming } from "./edges.js";
import { Inspector } from "./inspector.js";
import { inputLayer } from "./network.js";
import { formatUnit, parseUnit } from "./state.js";

const WEIGHTED = ["Conv2D", "Dense"];

export class UnitInfo {
  constructor(box, { onError, onSelect }) {
    this.box = box;
    this.onError = onError;
    this.onSelect = onSelect; // (unit text) the page state follows the pinned unit
    this.actions = [];
    this.hint = box.innerHTML;
    this.hinting = true; // the box shows the hint
  }

  setModel(detail) {
    this.detail = detail;
    this.inspector = new Inspector(detail);
    this.byName = new Map([["input", inputLayer(detail)], ...detail.layers.map((layer) => [layer.name, layer])]);
    this.weights = new Map();
    this.hovered = null;
    this.selected = null;
    this.answer = null;
    this.box.innerHTML = this.hint;
    this.hinting = true;
    this.edgesOn = null; // unknown: the next show() clears them
  }

  setView(view) {
    if (this.view && this.view !== view) {
      this.view.showEdges(null, null, []);
      this.edgesOn = null;
    }
    this.view = view;
    this.show();
  }

  // A button under the box for the current unit: handler(target) runs when it is clicked.
  addAction(label, handler, testid = null) {
    this.actions.push({ label, handler, testid });
  }

  weightsFor(layer) {
    if (!WEIGHTED.includes(layer.class_name)) return Promise.resolve(null);
    if (!this.weights.has(layer.name)) {
      const loading = api.weights(this.detail.id, layer.name).then((body) => ({
        kernel: decodeArray(body.kernel),
        bias: body.bias ? decodeArray(body.bias) : null,
      }));
      this.weights.set(layer.name, loading);
    }
    return this.weights.get(layer.name);
  }

  setAnswer(answer) {
    this.answer = answer;
    this.show();
  }

  hover(target) {
    this.hovered = target;
    this.show();
  }

  leave() {
    this.hovered = null;
    this.show();
  }

  // Click: pin this unit (click it again to release).
  select(target) {
    const same = this.selected && formatUnit(this.plain(this.selected)) === formatUnit(this.plain(target));
    this.selected = same ? null : target;
    this.onSelect(this.selected ? formatUnit(this.plain(this.selected)) : "");
    this.show();
  }

  // The pinned unit from the page state ("conv2:3,4,5"); ignored if this model has no such unit.
  restore(text) {
    const unit = parseUnit(text);
    const layer = unit && this.byName.get(unit.layer);
    const valid = layer && (unit.y === undefined
      ? layer.output_shape.length !== 3 && unit.index < layer.output_shape.reduce((a, b) => a * b, 1)
      : layer.output_shape.length === 3 && unit.y < layer.output_shape[0] && unit.x < layer.output_shape[1] && unit.channel < layer.output_shape[2]);
    this.selected = valid ? { ...unit, layer } : null;
    this.show();
  }

  plain(target) {
    return { ...target, layer: target.layer.name };
  }

  show() {
    const target = this.hovered || this.selected;
    if (!this.view) return;
    if (!target) {
      // Nothing hovered while the pen moves: touch neither the overlay nor the box, so an answer
      // does not force a layout (reading the overlay's size) or reparse the hint on every frame.
      if (this.edgesOn !== false) this.view.showEdges(null, null, []);
      this.edgesOn = false;
      if (!this.hinting) this.box.innerHTML = this.hint;
      this.hinting = true;
      return;
    }
    if (!this.answer) return;
    const values = (name) => this.answer.layers.get(name);
    const draw = (weights) => {
      if ((this.hovered || this.selected) !== target) return;
      const connections = target.layer.name === "input" ? null : incoming(this.inspector, target, values, weights);
      const regions = target.layer.name === "input" ? [] : this.inspector.regions(target);
      this.view.showEdges(target, connections, regions);
      this.edgesOn = true;
      this.box.innerHTML = this.describe(target, values, weights);
      this.hinting = false;
      this.box.dataset.unit = formatUnit(this.plain(target));
      this.addButtons(target);
    };
    draw(null);
    if (target.layer.name !== "input") {
      this.weightsFor(target.layer).then((weights) => weights && draw(weights)).catch((error) => this.onError(error.detail || String(error)));
    }
  }

  describe(target, values, weights) {
    const pinned = this.selected === target ? '<p class="muted pinned">pinned: click the unit again to release it</p>' : "";
    if (target.layer.name === "input") {
      const input = this.answer.input;
      const v = input.values[(target.y * input.shape[1] + target.x) * input.shape[2]];
      return `<p class="info-head"><b>input</b>, row ${target.y}, column ${target.x}</p><p>value = <b>${v.toFixed(3)}</b></p>${pinned}`;
    }
    return this.inspector.describe(target, values, weights) + pinned;
  }

  addButtons(target) {
    if (!this.actions.length) return;
    const row = document.createElement("div");
    row.className = "row info-actions";
    for (const action of this.actions) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = action.label;
      if (action.testid) button.setAttribute("data-testid", action.testid);
      button.addEventListener("click", () => action.handler(target));
      row.append(button);
    }
    this.box.append(row);
  }
}
