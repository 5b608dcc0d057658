// A tensor is {shape, data}: one image's values, channels last, row-major in a Float32Array
// (the batch axis is left out: the page computes one drawing at a time).

export const size = (shape) => shape.reduce((a, b) => a * b, 1);

export function zeros(shape) {
  return { shape, data: new Float32Array(size(shape)) };
}

// The padding before the first row (or column) of a "same" layer, as TensorFlow places it: the
// odd pixel goes after.
export function padBefore(padding, inSize, outSize, stride, span) {
  if (padding !== "same") return 0;
  return Math.floor(Math.max((outSize - 1) * stride + span - inSize, 0) / 2);
}
