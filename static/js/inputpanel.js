// The input panel, fitted to the model: digit models get the drawing pad (opened with a real MNIST
// test digit to draw over); every model gets upload, drag-drop, paste, the camera and bundled
// samples. It hands pixels or files to its owner and never fetches the API itself.

import { api } from "./api.js";
import { DrawingPad } from "./draw.js";
import { setText } from "./network.js";
import { SAMPLES } from "./samples.js";

const $ = (selector) => document.querySelector(selector);
const PAD_SIDE = 56; // the pad is sent at this size: the digit preprocessing crops and scales it to 28x28
// What the line under the pad says about the input in
const HINTS = {
  sample: "A digit from the MNIST test set is in: draw over it, or clear and draw your own.",
  drawing: "Your drawing is in: the network follows every stroke.",
  file: (name) => `Your picture (${name}) is in: see “What the model sees”. Draw here to use the pad instead.`,
};

export class InputPanel {
  // holdInk(): whether the pad's new ink should wait for the view's answer (draw.js)
  constructor({ onDrawing, onFile, onError, holdInk }) {
    this.onDrawing = onDrawing; // the pad changed: {rows(), grey()} read it as JSON rows or bytes
    this.onFile = onFile; // a file (upload, drop, paste, camera, image sample)
    this.onError = onError;
    this.pad = new DrawingPad($("#pad"), {
      holdInk,
      onChange: () => {
        this.fromFile = false; // the pad is the input again
        this.hint(HINTS.drawing);
        this.onDrawing(this.drawing);
      },
    });
    this.drawing = { rows: () => this.pad.pixels(PAD_SIDE), grey: () => ({ shape: [PAD_SIDE, PAD_SIDE], bytes: this.pad.grey(PAD_SIDE) }) };
    $("#clear").addEventListener("click", () => this.pad.clear());
    $("#eraser").addEventListener("change", (event) => (this.pad.erasing = event.target.checked));
    $("#brush").addEventListener("input", (event) => (this.pad.brush = Number(event.target.value)));
    for (const input of [$("#file"), $("#phone-camera")]) {
      input.addEventListener("change", (event) => {
        this.file(event.target.files[0]);
        event.target.value = ""; // choosing the same file again is a new input too
      });
    }
    const drop = $("#drop");
    drop.addEventListener("dragover", (event) => {
      event.preventDefault();
      drop.classList.add("dragging");
    });
    drop.addEventListener("dragleave", () => drop.classList.remove("dragging"));
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      drop.classList.remove("dragging");
      this.file(event.dataTransfer.files[0]);
    });
    document.addEventListener("paste", (event) => {
      const item = [...(event.clipboardData ? event.clipboardData.items : [])].find((entry) => entry.type.startsWith("image/"));
      if (!item) return;
      event.preventDefault();
      this.file(item.getAsFile(), "pasted image");
    });
    $("#camera").addEventListener("click", () => this.startCamera());
    $("#capture").addEventListener("click", () => this.capture());
    $("#camera-stop").addEventListener("click", () => this.stopCamera());
  }

  setModel(detail) {
    this.detail = detail;
    if (this.digits !== (detail.kind === "digits")) this.fromFile = false; // an image model's picture is no digit
    this.digits = detail.kind === "digits";
    $("#pad-card").hidden = !this.digits;
    $("#upload-title").textContent = this.digits ? "Or use a picture" : "Input image";
    const samples = this.digits ? SAMPLES.digits : SAMPLES.images;
    $("#samples").replaceChildren(...samples.map((sample) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "sample";
      button.setAttribute("data-testid", "sample");
      button.title = `${sample.title} (${sample.source})`;
      const image = new Image();
      image.src = sample.url;
      image.alt = sample.title;
      button.append(image);
      button.addEventListener("click", () => this.sample(sample));
      return button;
    }));
    $("#samples-source").textContent = `Samples: ${[...new Set(samples.map((s) => s.source))].join("; ")}.`;
  }

  // Open with a real sample in, so the view never shows a blank input's bias noise; a drawing
  // or picture already in stays in when the model changes.
  start() {
    if ((this.fromFile || !this.digits) && this.lastFile) return this.onFile(this.lastFile);
    if (this.digits && !this.pad.blank) return this.pad.changed();
    const samples = this.digits ? SAMPLES.digits : SAMPLES.images;
    return this.sample(samples[0]);
  }

  async sample(sample) {
    try {
      const blob = await api.asset(sample.url);
      if (this.digits) await this.loadOnPad(blob);
      else this.file(new File([blob], sample.url.split("/").pop(), { type: blob.type }), sample.title);
    } catch (error) {
      this.onError(error.detail || String(error));
    }
  }

  // A digit sample goes onto the pad, so the user can draw over it. It keeps a margin of a 14th of
  // the pad (two MNIST pixels): an MNIST digit may reach its field's edge, and a drawing whose ink
  // touches the pad's border is not one the page normalises itself (engine/pad_field.js), so the
  // sample and every stroke over it would go to the server. The digit normalisation rescales it
  // to the same 20 px box either way.
  async loadOnPad(blob) {
    const bitmap = await createImageBitmap(blob);
    const { canvas, context } = this.pad;
    const margin = Math.round(canvas.width / 14);
    context.fillStyle = "#000";
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.imageSmoothingEnabled = true;
    context.drawImage(bitmap, margin, margin, canvas.width - 2 * margin, canvas.height - 2 * margin);
    this.pad.changed();
    this.hint(HINTS.sample);
  }

  // An answer is on screen: the ink it answers goes with it.
  showInk() {
    this.pad.showInk();
  }

  hint(text) {
    setText($(".pad-hint"), text); // on every pen move
  }

  file(file, name = null) {
    if (!file) return;
    $("#upload-name").textContent = name || file.name;
    this.lastFile = file;
    this.fromFile = true;
    if (this.digits) {
      // the picture is the input now: the pad's old digit goes, so the two never disagree
      this.pad.clear(false);
      this.hint(HINTS.file(name || file.name));
    }
    this.onFile(file);
  }

  async startCamera() {
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    } catch (error) {
      this.onError(`The camera could not be opened: ${error.message || error.name}. Upload a photo instead.`);
      return;
    }
    const video = $("#camera-video");
    video.srcObject = this.stream;
    $("#camera-box").hidden = false;
    await video.play();
  }

  capture() {
    const video = $("#camera-video");
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    canvas.toBlob((blob) => this.file(new File([blob], "camera.png", { type: "image/png" }), "camera photo"), "image/png");
  }

  stopCamera() {
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
    this.stream = null;
    $("#camera-box").hidden = true;
  }
}
