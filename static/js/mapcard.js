// The "where your drawing sits" card: a t-SNE map of the model's reference images in its last
// hidden layer, the current input placed on it as a ring, and its nearest reference images.
// The bundled models' maps are shipped ready; another model's is computed once on the server
// (13-90 s), which answers 202 with its progress meanwhile: the card shows that progress on a
// cleared canvas (never the previous model's map) and asks again after the server's Retry-After.

import { api, decodeArray } from "./api.js";
import { thumbnails } from "./thumbs.js";

const CLASS_COLOURS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
// The map and the neighbours follow the input once it pauses for QUIET ms, one request at a time
// (the point and the nearest digits together): placed every 300 ms while the pen moved, the
// requests doubled the live channel's p95 round trip on a 2-core machine, and even once a second
// during a long stroke they delayed the pen's next answers (15-20 ms instead of 10). With the view
// computed in the page, this request is the server's whole share of a stroke.
const QUIET = 250;
const NEAREST = 8;

export class MapCard {
  constructor(root, { currentPixels, onError }) {
    this.root = root;
    this.canvas = root.querySelector("#embedding");
    this.status = root.querySelector("#map-status");
    this.progress = root.querySelector("#map-progress");
    this.legend = root.querySelector("#map-legend");
    this.neighbours = root.querySelector("#neighbours");
    this.currentPixels = currentPixels;
    this.onError = onError;
    this.placing = false;
    this.again = false;
    this.timer = null;
  }

  async setModel(detail) {
    this.detail = detail;
    this.map = null;
    this.root.hidden = !detail.card.reference; // only models whose card names a reference set have a map
    this.clear();
    if (this.root.hidden) return;
    this.status.textContent = "loading the map of the reference images…";
    try {
      let answer = await api.embedding(detail.id);
      while (answer.pending) {
        if (this.detail !== detail) return;
        this.showProgress(answer.progress);
        await new Promise((resolve) => setTimeout(resolve, answer.retryAfter * 1000));
        if (this.detail !== detail) return;
        answer = await api.embedding(detail.id);
      }
      if (this.detail !== detail) return;
      const map = answer.body;
      this.progress.hidden = true;
      this.map = { points: decodeArray(map.points).data, labels: map.labels, layer: map.layer };
      this.status.textContent = `${map.labels.length} reference digits in ${map.layer}, by t-SNE; the ring is your input`;
      this.legend.replaceChildren(...detail.classes.map((label, i) => {
        const key = document.createElement("span");
        key.style.setProperty("--swatch", CLASS_COLOURS[i % CLASS_COLOURS.length]);
        key.textContent = label;
        return key;
      }));
      this.draw();
      this.place();
    } catch (error) {
      if (this.detail !== detail) return;
      this.progress.hidden = true;
      this.status.textContent = error.detail || String(error);
    }
  }

  // No map on screen: a new model's card must not show the previous model's points.
  clear() {
    const context = this.canvas.getContext("2d");
    context.fillStyle = "#0b0d12";
    context.fillRect(0, 0, this.canvas.width, this.canvas.height);
    delete this.canvas.dataset.point;
    this.canvas.dataset.model = "";
    this.legend.replaceChildren();
    this.neighbours.replaceChildren();
    this.progress.hidden = true;
  }

  showProgress(progress) {
    this.progress.hidden = false;
    this.progress.value = progress.progress;
    const what = progress.stage === "features" ? "the reference images through the model" : `t-SNE, ${progress.iterations} of ${progress.of} iterations`;
    this.status.textContent = `computing the map of the reference images (once for this model): ${what}, ${Math.round(progress.elapsed_seconds)} s so far`;
  }

  draw(point = null) {
    const map = this.map;
    if (!map) return;
    const canvas = this.canvas;
    const context = canvas.getContext("2d");
    const { points, labels } = map;
    if (!map.bounds) {
      let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
      for (let i = 0; i < labels.length; i++) {
        x0 = Math.min(x0, points[2 * i]);
        x1 = Math.max(x1, points[2 * i]);
        y0 = Math.min(y0, points[2 * i + 1]);
        y1 = Math.max(y1, points[2 * i + 1]);
      }
      map.bounds = { x0, x1, y0, y1 };
    }
    const { x0, x1, y0, y1 } = map.bounds;
    const pad = 8;
    const sx = (x) => pad + ((x - x0) / (x1 - x0 || 1)) * (canvas.width - 2 * pad);
    const sy = (y) => pad + ((y - y0) / (y1 - y0 || 1)) * (canvas.height - 2 * pad);
    context.fillStyle = "#0b0d12";
    context.fillRect(0, 0, canvas.width, canvas.height);
    canvas.dataset.model = this.detail.id;
    for (let i = 0; i < labels.length; i++) {
      context.fillStyle = CLASS_COLOURS[labels[i] % CLASS_COLOURS.length];
      context.fillRect(sx(points[2 * i]) - 1, sy(points[2 * i + 1]) - 1, 2.5, 2.5);
    }
    if (point) {
      context.strokeStyle = "#fff";
      context.lineWidth = 3;
      context.beginPath();
      context.arc(sx(point[0]), sy(point[1]), 7, 0, 2 * Math.PI);
      context.stroke();
      canvas.dataset.point = point.map((v) => v.toFixed(2)).join(",");
    }
  }

  // Place the current input when it settles; call on every new answer.
  place() {
    if (!this.map) return;
    this.wanted = performance.now();
    if (!this.timer) this.timer = setTimeout(() => this.tick(), QUIET);
  }

  tick() {
    this.timer = null;
    const now = performance.now();
    const wait = QUIET - (now - this.wanted);
    if (wait > 0) {
      this.timer = setTimeout(() => this.tick(), wait);
      return;
    }
    this.send();
  }

  async send() {
    if (this.placing) {
      this.again = true;
      return;
    }
    const pixels = this.currentPixels();
    if (!pixels) return;
    this.placing = true;
    const id = this.detail.id;
    try {
      const answer = await api.place(id, pixels, NEAREST); // one request: the point and the nearest digits
      if (this.detail.id !== id || answer.pending) return; // pending: the server restarted without the map
      const placed = answer.body;
      this.draw(placed.point);
      const strip = thumbnails(placed.nearest, (item) => `${item.label} · ${item.distance.toFixed(1)}`);
      strip.setAttribute("data-testid", "neighbours");
      this.neighbours.replaceChildren(strip);
    } catch (error) {
      // the server away: the header says so, and the page places the drawing when it returns
      if (error.status !== 0) this.onError(error.detail || String(error));
    } finally {
      this.placing = false;
      if (this.again) {
        this.again = false;
        this.send();
      }
    }
  }
}
