// Add, Subtract, Multiply, Average, Maximum, Minimum and Concatenate (kind "merge"): several
// layers' outputs of one shape combined value by value, or set side by side along an axis.

import { size, zeros } from "./tensor.js";

const COMBINE = {
  Add: (a, b) => a + b,
  Subtract: (a, b) => a - b,
  Multiply: (a, b) => a * b,
  Average: (a, b) => a + b, // then divided by the count
  Maximum: (a, b) => Math.max(a, b),
  Minimum: (a, b) => Math.min(a, b),
};

function concatenate(layer, inputs) {
  const axis = layer.config.axis;
  const output = zeros(layer.output_shape);
  const outer = size(layer.output_shape.slice(0, axis)); // blocks before the axis
  let offset = 0;
  const outBlock = size(layer.output_shape.slice(axis));
  for (const input of inputs) {
    const block = size(input.shape.slice(axis));
    for (let i = 0; i < outer; i++) output.data.set(input.data.subarray(i * block, (i + 1) * block), i * outBlock + offset);
    offset += block;
  }
  return output;
}

export function make(layer) {
  if (layer.class_name === "Concatenate") return (inputs) => concatenate(layer, inputs);
  const combine = COMBINE[layer.class_name];
  return (inputs) => {
    const result = new Float64Array(inputs[0].data);
    for (const input of inputs.slice(1)) for (let i = 0; i < result.length; i++) result[i] = combine(result[i], input.data[i]);
    if (layer.class_name === "Average") for (let i = 0; i < result.length; i++) result[i] /= inputs.length;
    return { shape: layer.output_shape, data: Float32Array.from(result) };
  };
}
