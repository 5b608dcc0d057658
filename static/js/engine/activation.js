// Activation, ReLU, LeakyReLU, ELU and Softmax layers (kind "activation"): the function of
// activations.js with the layer's own settings, on a copy of the input.

import { activate } from "./activations.js";

export function make(layer) {
  const { activation, ...options } = layer.config;
  return ([input]) => activate({ shape: layer.output_shape, data: Float32Array.from(input.data) }, activation, options);
}
