// "Read a number": a photo or scan of several digits in a row goes to POST /read; the page shows
// each digit's box over the picture and its 28x28 field, and opens any digit in the network view.

import { api, decodeArray } from "./api.js";

export class ReadingPanel {
  // onOpen(field): show one digit's field ({shape: [28, 28], data}) in the network view.
  constructor(root, { onOpen, onError }) {
    this.root = root;
    this.onOpen = onOpen;
    this.onError = onError;
    this.modelId = null;
    this.url = null;
    root.querySelector("[data-testid=read-upload]").addEventListener("change", (event) => this.read(event.target.files[0]));
  }

  setModel(detail) {
    this.modelId = detail.id;
    this.root.hidden = detail.kind !== "digits"; // /read reads digits only
    this.root.querySelector(".read-result").replaceChildren();
  }

  async read(file) {
    if (!file) return;
    this.onError("");
    const result = this.root.querySelector(".read-result");
    result.replaceChildren(Object.assign(document.createElement("p"), { className: "muted", textContent: "Reading…" }));
    try {
      const answer = await api.read(this.modelId, file);
      if (this.url) URL.revokeObjectURL(this.url);
      this.url = URL.createObjectURL(file);
      this.show(answer);
    } catch (error) {
      result.replaceChildren();
      this.onError(error.detail || String(error));
    }
  }

  show(answer) {
    const result = this.root.querySelector(".read-result");
    const text = document.createElement("p");
    text.className = "read-text";
    text.dataset.testid = "read-text";
    text.textContent = answer.text || "no digits found";

    // The picture with a box per digit; boxes are in the picture's pixels, placed in percent.
    const figure = document.createElement("div");
    figure.className = "read-figure";
    const picture = document.createElement("img");
    picture.src = this.url;
    picture.alt = "the uploaded picture";
    figure.append(picture);
    const { width, height } = answer.size;
    const digits = document.createElement("div");
    digits.className = "read-digits";
    answer.digits.forEach((digit, index) => {
      const box = document.createElement("div");
      box.className = "read-box";
      box.dataset.testid = "read-box";
      Object.assign(box.style, {
        left: `${(100 * digit.box.left) / width}%`,
        top: `${(100 * digit.box.top) / height}%`,
        width: `${(100 * digit.box.width) / width}%`,
        height: `${(100 * digit.box.height) / height}%`,
      });
      box.textContent = digit.label;
      figure.append(box);

      const button = document.createElement("button");
      button.type = "button";
      button.dataset.testid = "read-digit";
      button.title = `Open digit ${index + 1} (“${digit.label}”, ${(100 * digit.confidence).toFixed(1)}%) in the network view`;
      const field = document.createElement("img");
      field.src = digit.png;
      field.alt = `digit ${index + 1}: its 28x28 field`;
      const label = document.createElement("span");
      label.textContent = `${digit.label} · ${(100 * digit.confidence).toFixed(0)}%`;
      button.append(field, label);
      button.addEventListener("click", () => this.onOpen(decodeArray(digit.field)));
      digits.append(button);
    });
    const ignored = document.createElement("p");
    ignored.className = "muted";
    ignored.textContent = answer.ignored ? `${answer.ignored} mark(s) that are not digits left out.` : "";
    result.replaceChildren(text, figure, digits, ignored);
  }
}
