// GlobalAveragePooling2D and GlobalMaxPooling2D (kind "global_pool"): one value per channel, the
// mean or the maximum over every position; [1, 1, C] with keepdims.

export function make(layer) {
  const takeMax = layer.class_name === "GlobalMaxPooling2D";
  return ([input]) => {
    const [height, width, channels] = input.shape;
    const result = new Float64Array(channels).fill(takeMax ? -Infinity : 0);
    const x = input.data;
    for (let p = 0; p < height * width; p++) {
      for (let c = 0; c < channels; c++) result[c] = takeMax ? Math.max(result[c], x[p * channels + c]) : result[c] + x[p * channels + c];
    }
    if (!takeMax) for (let c = 0; c < channels; c++) result[c] /= height * width;
    return { shape: layer.output_shape, data: Float32Array.from(result) };
  };
}
