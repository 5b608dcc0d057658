// Keras 3's activations, by the names the server's layer facts give (app/graph/browser.py
// ACTIVATIONS), applied in place to a layer's output. Arithmetic is in double precision and
// stored as float32, so each value is at least as close to the exact one as TensorFlow's.

const SELU_ALPHA = 1.6732632423543772;
const SELU_SCALE = 1.0507009873554805;

// erf to about 1.2e-7 (Numerical Recipes' erfc by a Chebyshev fit), for the exact GELU Keras uses.
function erf(x) {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const erfc = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? 1 - erfc : erfc - 1;
}

const sigmoid = (x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
const softplus = (x) => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));
const hardSigmoid = (x) => Math.min(Math.max(x + 3, 0), 6) / 6;

// One value at a time; `options` holds a layer's own settings (ReLU's max_value, ELU's alpha...).
const ELEMENTWISE = {
  linear: () => (x) => x,
  relu: ({ max_value = null, negative_slope = 0, threshold = 0 } = {}) => (x) =>
    x > threshold ? (max_value === null ? x : Math.min(x, max_value)) : negative_slope * (x - threshold),
  relu6: () => (x) => Math.min(Math.max(x, 0), 6),
  leaky_relu: ({ negative_slope = 0.2 } = {}) => (x) => (x >= 0 ? x : negative_slope * x),
  elu: ({ alpha = 1 } = {}) => (x) => (x > 0 ? x : alpha * Math.expm1(x)),
  selu: () => (x) => SELU_SCALE * (x > 0 ? x : SELU_ALPHA * Math.expm1(x)),
  gelu: () => (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  silu: () => (x) => x * sigmoid(x),
  swish: () => (x) => x * sigmoid(x),
  sigmoid: () => sigmoid,
  hard_sigmoid: () => hardSigmoid,
  hard_silu: () => (x) => x * hardSigmoid(x),
  hard_swish: () => (x) => x * hardSigmoid(x),
  tanh: () => Math.tanh,
  softplus: () => softplus,
  softsign: () => (x) => x / (1 + Math.abs(x)),
  exponential: () => Math.exp,
  mish: () => (x) => x * Math.tanh(softplus(x)),
};

// softmax along the last axis, shifted by the maximum as Keras does
function softmax(values, size) {
  for (let start = 0; start < values.length; start += size) {
    let max = -Infinity;
    for (let i = start; i < start + size; i++) max = Math.max(max, values[i]);
    let sum = 0;
    const exps = new Float64Array(size);
    for (let i = 0; i < size; i++) sum += exps[i] = Math.exp(values[start + i] - max);
    for (let i = 0; i < size; i++) values[start + i] = exps[i] / sum;
  }
}

export function isKnown(name) {
  return name === "softmax" || name in ELEMENTWISE;
}

// Apply activation `name` to a tensor {shape, data} in place; returns it.
export function activate(tensor, name = "linear", options = {}) {
  if (name === "linear") return tensor;
  if (name === "softmax") {
    softmax(tensor.data, tensor.shape[tensor.shape.length - 1]);
    return tensor;
  }
  const make = ELEMENTWISE[name];
  if (!make) throw new Error(`The page does not compute the activation ${name}`);
  const f = make(options);
  const values = tensor.data;
  for (let i = 0; i < values.length; i++) values[i] = f(values[i]);
  return tensor;
}
