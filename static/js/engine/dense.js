// Dense (kind "dense"): every unit is the weighted sum of all the inputs plus its bias, then the
// activation. Keras applies it to the last axis, so an [h, w, c] input gives [h, w, units].

import { activate } from "./activations.js";
import { zeros } from "./tensor.js";

export function make(layer, weights) {
  const { kernel, bias } = weights;
  const [inputs, units] = layer.weightShapes.kernel;
  return ([input]) => {
    const output = zeros(layer.output_shape);
    const sums = new Float64Array(units);
    const x = input.data;
    for (let row = 0; row * inputs < x.length; row++) {
      if (bias) for (let u = 0; u < units; u++) sums[u] = bias[u];
      else sums.fill(0);
      for (let i = 0; i < inputs; i++) {
        const value = x[row * inputs + i];
        if (value === 0) continue; // after a ReLU, most inputs add nothing
        const weightsOfInput = i * units; // the kernel's row for input i: one weight per unit
        for (let u = 0; u < units; u++) sums[u] += value * kernel[weightsOfInput + u];
      }
      output.data.set(sums, row * units);
    }
    return activate(output, layer.config.activation);
  };
}
