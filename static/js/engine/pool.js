// MaxPooling2D and AveragePooling2D (kind "pool"): each output is the maximum or the mean of its
// window. With "same" padding the window may reach past the edge: as in TensorFlow, those
// positions are left out (never a 0 in the maximum or in the mean's count).

import { padBefore, zeros } from "./tensor.js";

export function make(layer) {
  const [poolY, poolX] = layer.config.pool_size;
  const [strideY, strideX] = layer.config.strides;
  const takeMax = layer.class_name === "MaxPooling2D";
  return ([input]) => {
    const [height, width, channels] = input.shape;
    const [outHeight, outWidth] = layer.output_shape;
    const top = padBefore(layer.config.padding, height, outHeight, strideY, poolY);
    const left = padBefore(layer.config.padding, width, outWidth, strideX, poolX);
    const output = zeros([outHeight, outWidth, channels]);
    const x = input.data;
    const result = new Float64Array(channels);
    for (let oy = 0; oy < outHeight; oy++) {
      const y0 = Math.max(oy * strideY - top, 0);
      const y1 = Math.min(oy * strideY - top + poolY, height);
      for (let ox = 0; ox < outWidth; ox++) {
        const x0 = Math.max(ox * strideX - left, 0);
        const x1 = Math.min(ox * strideX - left + poolX, width);
        result.fill(takeMax ? -Infinity : 0);
        // the window's pixels in turn, all channels of each at once (they lie side by side)
        for (let y = y0; y < y1; y++) {
          for (let xx = x0; xx < x1; xx++) {
            const pixel = (y * width + xx) * channels;
            if (takeMax) {
              for (let c = 0; c < channels; c++) {
                const value = x[pixel + c];
                if (!(value <= result[c])) result[c] = value; // a NaN wins, as in TensorFlow's maximum
              }
            } else for (let c = 0; c < channels; c++) result[c] += x[pixel + c];
          }
        }
        const count = takeMax ? 1 : (y1 - y0) * (x1 - x0);
        const out = (oy * outWidth + ox) * channels;
        for (let c = 0; c < channels; c++) output.data[out + c] = result[c] / count;
      }
    }
    return output;
  };
}
