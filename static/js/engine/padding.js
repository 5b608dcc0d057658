// ZeroPadding2D and Cropping2D (kind "padding"): rows and columns of zeros added around a feature
// map, or cut from its edges.

import { zeros } from "./tensor.js";

export function make(layer) {
  const { top, bottom, left, right } = layer.config;
  const sign = layer.class_name === "ZeroPadding2D" ? 1 : -1;
  return ([input]) => {
    const [height, width, channels] = input.shape;
    const output = zeros(layer.output_shape);
    const [outHeight, outWidth] = layer.output_shape;
    for (let oy = 0; oy < outHeight; oy++) {
      const iy = oy - sign * top;
      if (iy < 0 || iy >= height) continue;
      const x0 = Math.max(0, sign * left);
      const ix0 = x0 - sign * left;
      const count = Math.min(outWidth - x0, width - ix0);
      const start = (iy * width + ix0) * channels;
      output.data.set(input.data.subarray(start, start + count * channels), (oy * outWidth + x0) * channels);
    }
    return output;
  };
}
