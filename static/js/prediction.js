// "What the model sees": the exact model input, and the top prediction (for a digit model with no
// ink in, a request for a drawing: a blank field's answer is the biases' guess, not a reading).

import { setText } from "./network.js";

export class PredictionView {
  constructor({ seen, label, detail }) {
    this.seen = seen;
    this.label = label;
    this.detailText = detail;
  }

  setModel(detail) {
    this.range = detail.input_range;
    this.digits = detail.kind === "digits";
  }

  // No ink anywhere: every value of the model input is the range's low end (black).
  isBlank(input) {
    const lo = this.range[0];
    return input.values.every((value) => value <= lo);
  }

  render(answer) {
    const input = answer.input;
    const canvas = this.seen;
    const [height, width, channels] = input.shape;
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width; // resizing clears and re-lays out the canvas: only when the size changes
      canvas.height = height;
    }
    const context = canvas.getContext("2d");
    if (!this.image || this.image.width !== width || this.image.height !== height) this.image = context.createImageData(width, height);
    const image = this.image;
    const [lo, hi] = this.range;
    for (let i = 0; i < width * height; i++) {
      for (let c = 0; c < 3; c++) image.data[i * 4 + c] = ((input.values[i * channels + (channels === 3 ? c : 0)] - lo) / (hi - lo)) * 255;
      image.data[i * 4 + 3] = 255;
    }
    context.putImageData(image, 0, 0);
    const blank = this.digits && this.isBlank(input);
    this.label.parentElement.classList.toggle("blank", blank);
    if (blank) {
      setText(this.label, "?");
      setText(this.detailText, "Draw a digit on the pad (or use a picture) to see what the network reads.");
      return;
    }
    const [best, second] = answer.top;
    setText(this.label, `${best.label}`);
    setText(this.detailText, `${(best.probability * 100).toFixed(1)}%` + (second ? `, then ${second.label} (${(second.probability * 100).toFixed(1)}%)` : ""));
  }
}
