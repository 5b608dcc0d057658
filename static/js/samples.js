// The bundled sample inputs (made once by scripts/make_samples.py) and where they come from.

const MNIST = "MNIST test set (LeCun, Cortes, Burges)";
const DRAWN = "drawn for convnet-vis by scripts/make_samples.py, CC0";

export const SAMPLES = {
  digits: [
    ["test-0-digit-7.png", "MNIST test digit 0, a 7"],
    ["test-1-digit-2.png", "MNIST test digit 1, a 2"],
    ["test-2-digit-1.png", "MNIST test digit 2, a 1"],
    ["test-3-digit-0.png", "MNIST test digit 3, a 0"],
    ["test-4-digit-4.png", "MNIST test digit 4, a 4"],
    ["test-7-digit-9.png", "MNIST test digit 7, a 9"],
  ].map(([file, title]) => ({ url: `/static/samples/mnist/${file}`, title, source: MNIST })),
  images: [
    ["sunset.png", "a sunset over hills"],
    ["flower.png", "a flower"],
    ["checkerboard.png", "a ring on a checkerboard"],
  ].map(([file, title]) => ({ url: `/static/samples/images/${file}`, title, source: DRAWN })),
};
