// The page's engine: a served model's forward pass in the browser, as the server describes it
// (GET /api/models/{id}/browser, app/graph/browser.py) with its weights in one download.
//
// One module per layer kind, named as the server's layer facts name the kinds
// (app/graph/layers.py layer_kind); each exports make(layer, weights) -> (inputs) => output, a
// tensor {shape, data} (tensor.js). The server decides which models the page may run, so the
// page never meets a layer it has no module for; a kind missing here is a bug and fails loudly.

import * as activation from "./activation.js";
import * as conv from "./conv.js";
import * as dense from "./dense.js";
import * as flatten from "./flatten.js";
import * as globalPool from "./global_pool.js";
import * as merge from "./merge.js";
import * as model from "./model.js";
import * as normalization from "./normalization.js";
import * as padding from "./padding.js";
import * as pool from "./pool.js";
import * as regularization from "./regularization.js";
import * as reshape from "./reshape.js";

export const KINDS = {
  conv, pool, global_pool: globalPool, dense, flatten, reshape, padding, merge, normalization, activation, regularization, model,
};

// A layer's weights as float32 views into the one download: no copies.
function weightsOf(layer, buffer) {
  const weights = {};
  for (const [name, { offset, shape }] of Object.entries(layer.weights)) {
    weights[name] = new Float32Array(buffer, offset, shape.reduce((a, b) => a * b, 1));
  }
  return weights;
}

// Class probabilities from the model's output, by its head (app/graph/runner.py probabilities_of).
function probabilitiesOf(output, head) {
  const values = Float64Array.from(output);
  if (head === "sigmoid") return Float32Array.from([1 - values[0], values[0]]);
  if (head === "logits") {
    const max = Math.max(...values);
    const exps = values.map((v) => Math.exp(v - max));
    const sum = exps.reduce((a, b) => a + b, 0);
    return Float32Array.from(exps, (e) => e / sum);
  }
  return Float32Array.from(values); // softmax: already; multilabel: independent sigmoids
}

export class Network {
  // spec: the /browser description; buffer: the /browser/weights ArrayBuffer.
  constructor(spec, buffer) {
    this.spec = spec;
    this.steps = spec.layers.map((layer) => {
      const module = KINDS[layer.kind];
      if (!module) throw new Error(`The page has no module for layer kind ${layer.kind} (${layer.name})`);
      const weightShapes = Object.fromEntries(Object.entries(layer.weights).map(([name, { shape }]) => [name, shape]));
      return { layer, forward: module.make({ ...layer, weightShapes }, weightsOf(layer, buffer)) };
    });
  }

  // input: the model input (input_shape, in input_range) as a Float32Array. Returns every layer's
  // output by name (the input as "input") and the class probabilities.
  run(input) {
    const outputs = new Map([["input", { shape: this.spec.input_shape, data: input }]]);
    for (const { layer, forward } of this.steps) {
      outputs.set(layer.name, forward(layer.inbound.map((name) => outputs.get(name))));
    }
    const last = this.steps[this.steps.length - 1].layer.name;
    return { outputs, probabilities: probabilitiesOf(outputs.get(last).data, this.spec.head) };
  }
}
