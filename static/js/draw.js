// The drawing pad: white ink on black like MNIST, for mouse, pen and touch (pointer events),
// smoothed with quadratic curves through the midpoints of successive pointer positions.
//
// Strokes go onto an ink canvas off the page, the drawing's pixels; the pad on the page shows it.
// When the page's own engine answers the drawing (a few milliseconds), the owner shows the ink
// with that answer (`showInk`), so the pen's ink and the network's response are painted in the
// same frame, and the browser paints one frame per pen move instead of two, one of which would
// hold up the answer. The ink waits at most INK_WAIT_MS for that; when no quick answer is
// coming (`holdInk()` false: the server computes the view), it is shown at once.

const RAW_MOVES = "onpointerrawupdate" in window;
const INK_WAIT_MS = 17; // about one 60 Hz frame

export class DrawingPad {
  constructor(canvas, { onChange, holdInk = () => false }) {
    this.view = canvas; // on the page
    this.viewContext = canvas.getContext("2d");
    this.canvas = document.createElement("canvas"); // the ink
    this.canvas.width = canvas.width;
    this.canvas.height = canvas.height;
    this.context = this.canvas.getContext("2d", { willReadFrequently: true });
    this.onChange = onChange;
    this.holdInk = holdInk;
    this.inkTimer = 0;
    this.brush = 22; // in canvas pixels: a pen stroke on a 280 px pad, ~2 px of the 28 px digit
    this.erasing = false;
    this.points = [];
    this.blank = true;
    this.clear(false);

    canvas.addEventListener("pointerdown", (event) => this.start(event));
    // pointermove waits for the next animation frame; pointerrawupdate (Chromium, secure pages and
    // localhost) comes as soon as the pen moves. With it the page's engine starts a drawing up to a
    // frame sooner, and its answer is in before that frame is painted.
    canvas.addEventListener(RAW_MOVES ? "pointerrawupdate" : "pointermove", (event) => this.move(event));
    for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
      canvas.addEventListener(type, () => this.end());
    }
  }

  // The ink onto the pad on the page, if it changed since it was last shown.
  showInk() {
    clearTimeout(this.inkTimer);
    this.inkTimer = 0;
    if (!this.inkChanged) return;
    this.inkChanged = false;
    this.viewContext.drawImage(this.canvas, 0, 0);
  }

  // New ink: shown now, or with the answer to it (at most INK_WAIT_MS from now).
  inkMoved() {
    this.inkChanged = true;
    if (!this.holdInk()) this.showInk();
    else if (!this.inkTimer) this.inkTimer = setTimeout(() => this.showInk(), INK_WAIT_MS);
  }

  position(event) {
    const rect = this.view.getBoundingClientRect();
    return {
      x: ((event.clientX - rect.left) * this.canvas.width) / rect.width,
      y: ((event.clientY - rect.top) * this.canvas.height) / rect.height,
    };
  }

  stroke(from, control, to) {
    const context = this.context;
    context.strokeStyle = this.erasing ? "#000" : "#fff";
    context.lineWidth = this.erasing ? this.brush * 1.6 : this.brush;
    context.lineCap = "round";
    context.lineJoin = "round";
    context.beginPath();
    context.moveTo(from.x, from.y);
    context.quadraticCurveTo(control.x, control.y, to.x, to.y);
    context.stroke();
  }

  start(event) {
    event.preventDefault();
    this.view.setPointerCapture(event.pointerId);
    this.begin(this.position(event));
  }

  move(event) {
    if (!this.points.length) return;
    if (event.cancelable) event.preventDefault();
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const each of events.length ? events : [event]) this.extend(this.position(each), false);
    this.changed();
  }

  end() {
    this.finish();
  }

  // A stroke's three steps in canvas pixels, apart from pointer events (the tests replay strokes
  // through them): a dot for a tap, a curve through each midpoint, a round end.
  begin(point) {
    this.points = [point];
    this.stroke(point, point, point);
    this.changed();
  }

  extend(point, notify = true) {
    if (!this.points.length) return;
    const last = this.points[this.points.length - 1];
    const before = this.points.length > 1 ? this.points[this.points.length - 2] : last;
    const mid = (a, b) => ({ x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 });
    this.stroke(mid(before, last), last, mid(last, point));
    this.points.push(point);
    if (notify) this.changed();
  }

  finish() {
    if (!this.points.length) return;
    const last = this.points[this.points.length - 1];
    this.stroke(last, last, last);
    this.points = [];
    this.changed();
  }

  changed() {
    this.blank = false;
    this.inkMoved();
    this.onChange();
  }

  clear(notify = true) {
    this.context.fillStyle = "#000";
    this.context.fillRect(0, 0, this.canvas.width, this.canvas.height);
    this.blank = true;
    this.inkChanged = true;
    this.showInk(); // a button: at once
    if (notify) this.onChange();
  }

  // The drawing reduced to size x size with area averaging, one byte per pixel (the live channel's
  // binary frame sends these as they are).
  grey(size) {
    const scratch = this.scratch || (this.scratch = document.createElement("canvas"));
    if (scratch.width !== size) scratch.width = scratch.height = size;
    const context = this.scratchContext || (this.scratchContext = scratch.getContext("2d", { willReadFrequently: true }));
    context.imageSmoothingEnabled = true;
    context.imageSmoothingQuality = "high";
    context.drawImage(this.canvas, 0, 0, size, size);
    const data = context.getImageData(0, 0, size, size).data;
    const bytes = new Uint8Array(size * size);
    for (let i = 0; i < bytes.length; i++) bytes[i] = data[i * 4];
    return bytes;
  }

  // The same as rows of values in [0, 1] (3 decimals), for JSON requests.
  pixels(size) {
    const bytes = this.grey(size);
    const rows = [];
    for (let y = 0; y < size; y++) {
      const row = new Array(size);
      for (let x = 0; x < size; x++) row[x] = Math.round((bytes[y * size + x] / 255) * 1000) / 1000;
      rows.push(row);
    }
    return rows;
  }
}
