// The page's engine off the main thread, so the pen never waits for the network's arithmetic.
//
// Messages in:  {type: "load", spec, weights}          the /browser description and weights
//               {type: "drawing", seq, grey}           the pad's pixels ({shape, bytes}, as sent to the server)
//               {type: "input", seq, input}            a model input (Float32Array), e.g. from the tests
// Messages out: {type: "loaded"} or {type: "failed", error}
//               {type: "answer", seq, input, layers: [{name, shape, values, min, max}], probabilities, computeMs,
//                timing: {began, sent}}                 when the worker took the drawing and answered
//                                                      (ms since the epoch, as the page's own clock reads)
//               {type: "server", seq}                  a drawing the page does not normalise (not a clean
//                                                      pad): the server preprocesses it, as before

import { Network } from "./index.js";
import { padField } from "./pad_field.js";

let network = null;
let spec = null;

function extent(values) {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    if (values[i] < min) min = values[i];
    if (values[i] > max) max = values[i];
  }
  return values.length ? { min, max } : { min: 0, max: 0 };
}

function answer(seq, input, start) {
  const { outputs, probabilities } = network.run(input);
  const layers = spec.layers.map((layer) => {
    const { shape, data } = outputs.get(layer.name);
    return { name: layer.name, shape, values: data, ...extent(data) };
  });
  const computeMs = performance.now() - start;
  // layers that pass their input through share its buffer: hand each buffer over once
  const buffers = new Set([input.buffer, ...layers.map((layer) => layer.values.buffer)]);
  self.postMessage({ type: "answer", seq, input: { shape: spec.input_shape, values: input }, layers, probabilities, computeMs, timing: { began: performance.timeOrigin + start, sent: performance.timeOrigin + performance.now() } }, [...buffers]);
}

// The field in [0, 1] -> the model's input range, in float32 as the server's preprocessing does.
function modelInput(field) {
  const [low, high] = spec.input_range;
  return low === 0 && high === 1 ? field : field.map((v) => low + v * (high - low));
}

self.onmessage = ({ data }) => {
  const start = performance.now();
  if (data.type === "load") {
    try {
      spec = data.spec;
      network = new Network(data.spec, data.weights);
      self.postMessage({ type: "loaded" });
    } catch (error) {
      self.postMessage({ type: "failed", error: String(error) });
    }
  } else if (data.type === "drawing") {
    const normalised = padField(data.grey);
    if (!normalised) self.postMessage({ type: "server", seq: data.seq });
    else answer(data.seq, modelInput(normalised.field), start);
  } else if (data.type === "input") {
    answer(data.seq, data.input, start);
  }
};
