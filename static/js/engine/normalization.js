// BatchNormalization, LayerNormalization, Rescaling and Normalization (kind "normalization"),
// each along the channels (the last axis) with the layer's own weights and epsilon.

const channelsOf = (tensor) => tensor.shape[tensor.shape.length - 1];

// value -> value * scale[c] + shift[c] for each channel c
function perChannel(input, outputShape, scale, shift) {
  const channels = channelsOf(input);
  const output = new Float32Array(input.data.length);
  for (let i = 0; i < output.length; i++) {
    const c = i % channels;
    output[i] = input.data[i] * scale[c] + shift[c];
  }
  return { shape: outputShape, data: output };
}

// With the moving statistics, as when the model predicts: (x - mean) / sqrt(variance + epsilon) * gamma + beta.
function batchNormalization(layer, w) {
  const channels = layer.output_shape[layer.output_shape.length - 1];
  const scale = new Float64Array(channels);
  const shift = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    scale[c] = (w.gamma ? w.gamma[c] : 1) / Math.sqrt(w.moving_variance[c] + layer.config.epsilon);
    shift[c] = (w.beta ? w.beta[c] : 0) - w.moving_mean[c] * scale[c];
  }
  return ([input]) => perChannel(input, layer.output_shape, scale, shift);
}

// Each position's channels to mean 0 and variance 1, then gamma and beta.
function layerNormalization(layer, w) {
  return ([input]) => {
    const channels = channelsOf(input);
    const output = new Float32Array(input.data.length);
    for (let start = 0; start < output.length; start += channels) {
      let mean = 0;
      for (let c = 0; c < channels; c++) mean += input.data[start + c];
      mean /= channels;
      let variance = 0;
      for (let c = 0; c < channels; c++) variance += (input.data[start + c] - mean) ** 2;
      variance /= channels;
      const inverse = 1 / Math.sqrt(variance + layer.config.epsilon);
      for (let c = 0; c < channels; c++) {
        output[start + c] = (input.data[start + c] - mean) * inverse * (w.gamma ? w.gamma[c] : 1) + (w.beta ? w.beta[c] : 0);
      }
    }
    return { shape: layer.output_shape, data: output };
  };
}

// Normalization with fixed statistics: (x - mean) / max(sqrt(variance), epsilon).
function normalization(layer, w) {
  const scale = Float64Array.from(w.variance, (v) => 1 / Math.max(Math.sqrt(v), layer.config.epsilon));
  const shift = Float64Array.from(w.mean, (m, c) => -m * scale[c]);
  return ([input]) => perChannel(input, layer.output_shape, scale, shift);
}

export function make(layer, weights) {
  if (layer.class_name === "BatchNormalization") return batchNormalization(layer, weights);
  if (layer.class_name === "LayerNormalization") return layerNormalization(layer, weights);
  if (layer.class_name === "Normalization") return normalization(layer, weights);
  return ([input]) => perChannel(input, layer.output_shape, weights.scale, weights.offset); // Rescaling
}
