// Flatten (kind "flatten"): channels-last values are already in the order Keras flattens them
// (row, column, channel), so only the shape changes.

export function make(layer) {
  return ([input]) => ({ shape: layer.output_shape, data: input.data });
}
