// A nested model (kind "model"): its output is its last layer's, already computed; the server
// names that layer as its one input.

export function make() {
  return ([inner]) => inner;
}
