// The 3D view, like Harley's 3D page: each layer a plane of cells (the same grid images as the 2D
// view), stacked from the input at the bottom to the output at the top, under an orbit camera
// (drag to rotate, right-drag to pan, wheel to zoom). Each plane carries its name and shape as an
// HTML label moved with the camera (crisp at any zoom, and drawn into the PNG download); on open
// the camera is framed so every plane and its label is in the canvas. Hover draws the same edges
// as the 2D view, click pins the unit (the pin stays marked while others are hovered); each layer
// can be hidden. From the keyboard: the canvas takes focus, the arrows move a unit within its
// layer, PageUp/PageDown (or ] and [) change layer, Enter pins and Escape unpins, through the same
// hooks as the pointer, so the Unit box follows. three.js is vendored under static/vendor/three.

import * as THREE from "../vendor/three/three.module.js";
import { OrbitControls } from "../vendor/three/OrbitControls.js";
import { channelRange, paintGrid } from "./colors.js";
import { Grid } from "./layout.js";
import { DENSE_EDGES, element, inputLayer } from "./network.js";
import { formatUnit, parseUnit, state } from "./state.js";

const SPACING = 10; // world units between layers
const MAX_SIDE = 40; // the widest plane, in world units
const MARGIN = 12; // css px kept free around the framed network
const LABEL_GAP = 8; // css px between a plane and its label
const PIN_COLOUR = 0xf7b32b; // the page's accent
const CURSOR_COLOUR = 0xffffff;
const KEYS_HELP = "arrow keys move the unit, Page Up and Page Down change layer, Enter pins it, Escape unpins";

function squareColumns(shape, rgb) {
  if (shape.length !== 3) return Math.ceil(Math.sqrt(shape.reduce((a, b) => a * b, 1)));
  const maps = rgb ? 1 : shape[2];
  return Math.max(1, Math.round(Math.sqrt((maps * shape[0]) / shape[1])));
}

function disposeLine(scene, line) {
  if (!line) return;
  scene.remove(line);
  line.geometry.dispose();
  line.material.dispose();
}

function lineLoop(points, colour) {
  const geometry = new THREE.BufferGeometry();
  geometry.setAttribute("position", new THREE.Float32BufferAttribute(points.flat(), 3));
  return new THREE.LineLoop(geometry, new THREE.LineBasicMaterial({ color: colour }));
}

export class View3D {
  constructor(container, { onHover, onLeave, onSelect }) {
    this.container = container;
    this.onHover = onHover;
    this.onLeave = onLeave;
    this.onSelect = onSelect;
    this.toggles = element("div", { class: "layer-toggles", "aria-label": "Layers shown in 3D" });
    this.renderer = new THREE.WebGLRenderer({ antialias: true });
    this.renderer.setPixelRatio(window.devicePixelRatio || 1);
    this.canvas = this.renderer.domElement;
    this.canvas.setAttribute("data-testid", "edges");
    this.canvas.setAttribute("data-count", "0");
    this.canvas.setAttribute("tabindex", "0");
    this.canvas.setAttribute("role", "application");
    this.canvas.setAttribute("aria-label", `The network in 3D: drag to rotate, right-drag to pan, wheel to zoom; ${KEYS_HELP}`);
    // the labels: a layer over the canvas that lets the pointer through to it
    this.labels = element("div", { class: "labels-3d", "aria-hidden": "true" });
    this.stage = element("div", { class: "stage-3d" }, [this.canvas, this.labels]);
    container.append(this.toggles, this.stage);
    this.scene = new THREE.Scene();
    this.scene.background = new THREE.Color(0x000000);
    this.camera = new THREE.PerspectiveCamera(45, 1, 0.1, 4000);
    this.controls = new OrbitControls(this.camera, this.canvas);
    this.controls.addEventListener("change", () => this.draw());
    // once the reader has moved the camera (a click alone does not), a resize keeps their view
    let before = null;
    this.controls.addEventListener("start", () => (before = this.camera.position.clone()));
    this.controls.addEventListener("end", () => (this.moved ||= before && before.distanceTo(this.camera.position) > 1e-6));
    this.raycaster = new THREE.Raycaster();
    this.size = { width: 0, height: 0 };
    this.edges = null;
    this.edgeEnds = null;
    this.marks = [];
    this.cursor = null; // the unit the keyboard is on, while the canvas has focus
    this.slots = new Map();
    this.resizes = new ResizeObserver(() => this.resize()); // the stage, and the labels (projector mode's size)
    state.subscribe((changed) => changed.has("unit") && this.showMarks());
    this.listen();
    window.__network3d = this.facts(); // for the browser tests: where three.js draws each thing
  }

  listen() {
    let down = null;
    this.canvas.addEventListener("pointerdown", (event) => (down = [event.clientX, event.clientY]));
    this.canvas.addEventListener("pointermove", (event) => {
      if (event.buttons) return; // orbiting
      const hit = this.pick(event);
      if (hit) this.onHover(hit);
      else this.onLeave();
    });
    this.canvas.addEventListener("pointerleave", () => this.onLeave());
    this.canvas.addEventListener("pointerup", (event) => {
      const moved = down && Math.hypot(event.clientX - down[0], event.clientY - down[1]) > 4;
      down = null;
      const hit = !moved && this.pick(event);
      if (hit) this.onSelect(hit);
    });
    // focus from the keyboard (or a script) shows the cursor; a click's focus does not
    this.canvas.addEventListener("focus", () => down || this.moveCursor(this.startUnit()));
    this.canvas.addEventListener("blur", () => {
      if (!this.cursor) return;
      this.cursor = null;
      this.onLeave();
      this.showMarks();
    });
    this.canvas.addEventListener("keydown", (event) => this.onKey(event));
  }

  setModel(detail) {
    this.detail = detail;
    for (const slot of this.slots.values()) {
      this.scene.remove(slot.mesh);
      slot.mesh.geometry.dispose();
      slot.mesh.material.map.dispose();
      slot.mesh.material.dispose();
    }
    this.slots = new Map();
    this.cursor = null;
    this.lastCursor = null;
    this.showEdges(null, null, []);
    const rgb = detail.input_shape[2] === 3;
    const layers = [inputLayer(detail), ...detail.layers.filter((layer) => !layer.is_container)];
    const widest = Math.max(...layers.map((layer) => new Grid(layer.output_shape, squareColumns(layer.output_shape, rgb && layer.name === "input"), { rgb: rgb && layer.name === "input" }).width));
    this.toggles.replaceChildren();
    this.labels.replaceChildren();
    this.resizes.disconnect();
    this.resizes.observe(this.stage);
    layers.forEach((layer, i) => {
      const isInput = layer.name === "input";
      const grid = new Grid(layer.output_shape, squareColumns(layer.output_shape, isInput && rgb), { rgb: isInput && rgb });
      const source = document.createElement("canvas");
      source.width = grid.width;
      source.height = grid.height;
      const texture = new THREE.CanvasTexture(source);
      texture.magFilter = THREE.NearestFilter;
      texture.minFilter = THREE.LinearFilter;
      texture.generateMipmaps = false;
      texture.colorSpace = THREE.SRGBColorSpace;
      // a plane's side grows with its grid, so the input is large and a dense layer a small square
      const unit = Math.max(12 / Math.max(grid.width, grid.height), (MAX_SIDE / widest) * Math.min(3, Math.sqrt(widest / grid.width)));
      const width = grid.width * unit;
      const depth = grid.height * unit;
      const material = new THREE.MeshBasicMaterial({ map: texture, transparent: true, side: THREE.DoubleSide });
      const mesh = new THREE.Mesh(new THREE.PlaneGeometry(width, depth), material);
      mesh.rotation.x = -Math.PI / 2; // lying flat; the stack grows upwards
      mesh.position.y = i * SPACING;
      this.scene.add(mesh);
      const label = element("div", { class: "label-3d", "data-layer": layer.name }, [
        element("b", { text: layer.name }),
        element("span", { text: layer.output_shape.join("×") }),
      ]);
      this.labels.append(label);
      this.resizes.observe(label);
      const slot = { layer, grid, source, texture, mesh, width, depth, isInput, rgb: isInput && rgb, label, order: i };
      mesh.userData.slot = slot;
      this.slots.set(layer.name, slot);
      const box = element("input", { type: "checkbox", "data-layer": layer.name });
      box.checked = true;
      box.addEventListener("change", () => {
        mesh.visible = box.checked;
        this.draw();
      });
      this.toggles.append(element("label", {}, [box, layer.name]));
    });
    this.moved = false;
    this.resize();
  }

  setActive(active) {
    this.active = active;
    if (active) this.resize();
  }

  resize() {
    const width = this.stage.clientWidth;
    const height = this.stage.clientHeight;
    if (width <= 0 || height <= 0 || !this.slots.size) return;
    this.size = { width, height };
    this.renderer.setSize(width, height);
    this.camera.aspect = width / height;
    this.camera.updateProjectionMatrix();
    if (!this.moved) this.frame();
    this.draw();
  }

  // Every plane's four corners, in world coordinates.
  corners(slot) {
    const [w, d, y] = [slot.width / 2, slot.depth / 2, slot.mesh.position.y];
    return [[-w, -d], [w, -d], [w, d], [-w, d]].map(([x, z]) => new THREE.Vector3(x, y, z));
  }

  // Where a world point is drawn, in css px from the canvas's top left (three.js's projection).
  toScreen(point) {
    const p = point.clone().project(this.camera);
    return { x: ((p.x + 1) / 2) * this.size.width, y: ((1 - p.y) / 2) * this.size.height, behind: p.z > 1 };
  }

  boxOf(points) {
    const screen = points.map((point) => this.toScreen(point));
    const xs = screen.map((p) => p.x);
    const ys = screen.map((p) => p.y);
    return { left: Math.min(...xs), right: Math.max(...xs), top: Math.min(...ys), bottom: Math.max(...ys), behind: screen.some((p) => p.behind) };
  }

  // The camera where every plane, with its label on its left, projects inside the canvas: looking
  // down on the stack from the front right (as Harley's page opens), backed off to the nearest
  // distance at which the network's projected box fits the room the labels leave, then panned
  // so the box sits in the middle of that room. A few rounds, as panning changes the perspective.
  frame() {
    const slots = [...this.slots.values()];
    const points = slots.flatMap((slot) => this.corners(slot));
    const labelWidth = Math.max(...slots.map((slot) => slot.label.offsetWidth)) + LABEL_GAP;
    const labelHalf = Math.max(...slots.map((slot) => slot.label.offsetHeight)) / 2;
    const { width, height } = this.size;
    const room = { left: MARGIN + labelWidth, right: width - MARGIN, top: MARGIN + labelHalf, bottom: height - MARGIN - labelHalf };
    const stack = (slots.length - 1) * SPACING;
    const target = new THREE.Vector3(0, stack / 2, 0);
    const direction = new THREE.Vector3(MAX_SIDE * 0.6, MAX_SIDE * 0.85, MAX_SIDE + stack * 0.62).normalize();
    const place = (distance) => {
      this.camera.position.copy(target).addScaledVector(direction, distance);
      this.camera.lookAt(target);
      this.camera.updateMatrixWorld();
    };
    const fits = (box, inRoom) =>
      !box.behind &&
      (inRoom
        ? box.left >= room.left && box.right <= room.right && box.top >= room.top && box.bottom <= room.bottom
        : box.right - box.left <= room.right - room.left && box.bottom - box.top <= room.bottom - room.top);
    const centre = () => {
      const box = this.boxOf(points);
      const perPixel = (2 * distance * Math.tan(THREE.MathUtils.degToRad(this.camera.fov / 2))) / height;
      const right = new THREE.Vector3().setFromMatrixColumn(this.camera.matrixWorld, 0);
      const up = new THREE.Vector3().setFromMatrixColumn(this.camera.matrixWorld, 1);
      target.addScaledVector(right, ((box.left + box.right - room.left - room.right) / 2) * perPixel);
      target.addScaledVector(up, -((box.top + box.bottom - room.top - room.bottom) / 2) * perPixel);
      place(distance);
    };
    let distance = 1;
    for (let round = 0; round < 3; round++) {
      let [near, far] = [1, 4000];
      for (let i = 0; i < 30; i++) {
        distance = (near + far) / 2;
        place(distance);
        if (fits(this.boxOf(points), false)) far = distance;
        else near = distance;
      }
      distance = far;
      place(distance);
      centre();
    }
    for (let i = 0; i < 40 && !fits(this.boxOf(points), true); i++) {
      distance *= 1.02;
      place(distance);
      centre();
    }
    this.controls.target.copy(target);
    this.controls.update();
  }

  draw() {
    if (!this.active) return;
    this.renderer.render(this.scene, this.camera);
    this.placeLabels();
  }

  // Each label just left of its plane's leftmost corner, at that corner's height.
  placeLabels() {
    const placed = [];
    for (const slot of this.slots.values()) {
      const shown = slot.mesh.visible;
      slot.label.hidden = !shown;
      if (!shown) continue;
      const corner = this.corners(slot)
        .map((point) => this.toScreen(point))
        .reduce((a, b) => (b.x < a.x ? b : a));
      // a label that would cover one placed below it moves left, clear of it
      const [w, h] = [slot.label.offsetWidth, slot.label.offsetHeight];
      let right = corner.x - LABEL_GAP;
      for (const other of placed)
        if (Math.abs(other.y - corner.y) < (h + other.h) / 2 && right > other.right - other.w - 2 && right - w < other.right) right = other.right - other.w - 2;
      placed.push({ right, y: corner.y, w, h });
      slot.label.style.left = `${right}px`; // the label's right edge (css: translate(-100%))
      slot.label.style.top = `${corner.y}px`;
    }
  }

  // The view as a picture at `scale` x its css size: rendered once more at that pixel ratio and
  // copied at once, before the browser may clear the WebGL drawing buffer (no preserveDrawingBuffer,
  // which would slow every frame for a rare download).
  snapshot(scale) {
    const ratio = this.renderer.getPixelRatio();
    this.renderer.setPixelRatio(scale);
    this.renderer.render(this.scene, this.camera);
    const picture = document.createElement("canvas");
    picture.width = this.canvas.width;
    picture.height = this.canvas.height;
    picture.getContext("2d").drawImage(this.canvas, 0, 0);
    this.renderer.setPixelRatio(ratio);
    this.draw();
    return picture;
  }

  render(answer, mode) {
    let globalLo = 0;
    let globalHi = -Infinity;
    for (const [name, data] of answer.layers) {
      if (name === "input" || !data.max) continue;
      globalLo = Math.min(globalLo, data.min);
      globalHi = Math.max(globalHi, data.max);
    }
    for (const slot of this.slots.values()) {
      const data = slot.isInput ? answer.input : answer.layers.get(slot.layer.name);
      if (!data) continue;
      const context = slot.source.getContext("2d");
      const image = context.createImageData(slot.grid.width, slot.grid.height);
      const channels = data.shape.length === 3 ? data.shape[2] : 1;
      if (slot.isInput) {
        const values = data.values;
        let lo = Infinity;
        let hi = -Infinity;
        for (const v of values) {
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
        for (let map = 0; map < slot.grid.maps; map++) {
          const origin = slot.grid.cell({ channel: map, y: 0, x: 0 });
          for (let y = 0; y < slot.grid.h; y++)
            for (let x = 0; x < slot.grid.w; x++) {
              const p = ((origin.y + y) * slot.grid.width + origin.x + x) * 4;
              for (let c = 0; c < 3; c++) image.data[p + c] = ((values[(y * slot.grid.w + x) * channels + (slot.rgb ? c : map)] - lo) / (hi - lo || 1)) * 255;
              image.data[p + 3] = 255;
            }
        }
      } else {
        const layerRange = [Math.min(0, data.min), data.max];
        const range = mode === "global" ? () => [globalLo, globalHi] : mode === "map" && slot.grid.spatial ? (map) => channelRange(data.values, map, channels) : () => layerRange;
        paintGrid(image.data, slot.grid, data.values, channels, range);
      }
      context.putImageData(image, 0, 0);
      slot.texture.needsUpdate = true;
    }
    this.draw();
  }

  // The unit under the pointer, from the plane's texture coordinates.
  pick(event) {
    const rect = this.canvas.getBoundingClientRect();
    const pointer = new THREE.Vector2(((event.clientX - rect.left) / rect.width) * 2 - 1, -((event.clientY - rect.top) / rect.height) * 2 + 1);
    this.raycaster.setFromCamera(pointer, this.camera);
    const meshes = [...this.slots.values()].map((slot) => slot.mesh).filter((mesh) => mesh.visible);
    for (const hit of this.raycaster.intersectObjects(meshes, false)) {
      const slot = hit.object.userData.slot;
      const unit = slot.grid.unitAt(hit.uv.x * slot.grid.width, (1 - hit.uv.y) * slot.grid.height);
      if (unit) return { layer: slot.layer, ...unit };
    }
    return null;
  }

  // A unit's centre in world coordinates.
  position(name, unit) {
    const slot = this.slots.get(name);
    if (!slot) return null;
    const cell = slot.grid.cell(unit);
    return new THREE.Vector3(
      ((cell.x + 0.5) / slot.grid.width - 0.5) * slot.width,
      slot.mesh.position.y + 0.01,
      ((cell.y + 0.5) / slot.grid.height - 0.5) * slot.depth,
    );
  }

  // The receptive field as a green rectangle on the input plane.
  outline(region) {
    disposeLine(this.scene, this.field);
    this.field = null;
    if (!region) return;
    const slot = this.slots.get("input");
    const { y0, y1, x0, x1 } = region.box;
    const half = slot.width / slot.grid.width / 2;
    const corner = (y, x, dy, dx) => {
      const p = this.position("input", { channel: 0, y, x });
      return [p.x + dx * half, p.y + 0.02, p.z + dy * half];
    };
    this.field = lineLoop([corner(y0, x0, -1, -1), corner(y0, x1, -1, 1), corner(y1, x1, 1, 1), corner(y1, x0, 1, -1)], 0x39d353);
    this.scene.add(this.field);
  }

  // The hovered unit's edges to every unit it reads, coloured by signed weight (brighter: stronger).
  showEdges(target, connections, regions) {
    disposeLine(this.scene, this.edges);
    this.edges = null;
    this.edgeEnds = null;
    this.canvas.dataset.count = String(connections ? connections.units.length : 0);
    this.canvas.dataset.unit = target ? target.layer.name : "";
    this.canvas.dataset.drawn = "0";
    const start = target && this.position(target.layer.name, target);
    if (start && connections && connections.units.length) {
      const dense = target.layer.kind === "dense";
      const magnitude = connections.units.map((edge) => Math.abs(edge.weight === null || dense ? edge.contribution : edge.weight));
      const top = Math.max(1e-12, ...magnitude);
      // a dense unit: only its strongest contributions, as in the 2D view
      const weighed = connections.units.some((edge) => edge.weight !== null);
      const kept = dense && weighed && magnitude.length > DENSE_EDGES ? new Set([...magnitude.keys()].sort((a, b) => magnitude[b] - magnitude[a]).slice(0, DENSE_EDGES)) : null;
      this.canvas.dataset.drawn = String(kept ? kept.size : connections.units.length);
      const points = [];
      const colours = [];
      const ends = [];
      connections.units.forEach((edge, i) => {
        if (kept && !kept.has(i)) return;
        const end = this.position(connections.from, edge.unit);
        if (!end) return;
        const strength = 0.15 + 0.85 * (magnitude[i] / top);
        const colour = edge.weight === null ? [0.22, 0.83, 0.33] : edge.weight >= 0 ? [1, 0.38, 0.25] : [0.31, 0.59, 1];
        points.push(start.x, start.y, start.z, end.x, end.y, end.z);
        for (let k = 0; k < 2; k++) colours.push(...colour.map((c) => c * strength));
        ends.push({ unit: edge.unit, point: end });
      });
      const geometry = new THREE.BufferGeometry();
      geometry.setAttribute("position", new THREE.Float32BufferAttribute(points, 3));
      geometry.setAttribute("color", new THREE.Float32BufferAttribute(colours, 3));
      this.edges = new THREE.LineSegments(geometry, new THREE.LineBasicMaterial({ vertexColors: true }));
      this.scene.add(this.edges);
      this.edgeEnds = { target, start, from: connections.from, ends };
    }
    this.outline((regions || []).find((region) => region.receptiveField));
    this.showMarks();
  }

  // A unit as a target of this model ({layer, ...unit}), or null if it has no such unit.
  targetOf(unit) {
    const slot = unit && this.slots.get(unit.layer);
    if (!slot) return null;
    const shape = slot.layer.output_shape;
    const valid = unit.y === undefined
      ? shape.length !== 3 && unit.index < shape.reduce((a, b) => a * b, 1)
      : shape.length === 3 && unit.y < shape[0] && unit.x < shape[1] && unit.channel < (slot.rgb ? 1 : shape[2]);
    return valid ? { ...unit, layer: slot.layer } : null;
  }

  pinned() {
    return this.targetOf(parseUnit(state.get("unit")));
  }

  // A square around a unit's cell, a little bigger than the cell so a small one is still seen.
  mark(target, colour) {
    const slot = this.slots.get(target.layer.name);
    const centre = this.position(target.layer.name, target);
    const half = Math.max(0.45, (0.8 * slot.width) / slot.grid.width);
    const y = centre.y + 0.03;
    return lineLoop([[centre.x - half, y, centre.z - half], [centre.x + half, y, centre.z - half], [centre.x + half, y, centre.z + half], [centre.x - half, y, centre.z + half]], colour);
  }

  // The pinned unit (kept while others are hovered) and the keyboard's unit, each outlined.
  showMarks() {
    for (const line of this.marks) disposeLine(this.scene, line);
    this.marks = [];
    const pinned = this.pinned();
    this.canvas.dataset.pinned = pinned ? formatUnit({ ...pinned, layer: pinned.layer.name }) : "";
    this.canvas.dataset.cursor = this.cursor ? formatUnit({ ...this.cursor, layer: this.cursor.layer.name }) : "";
    for (const [target, colour] of [[pinned, PIN_COLOUR], [this.cursor, CURSOR_COLOUR]]) {
      if (!target || !this.slots.get(target.layer.name).mesh.visible) continue;
      const line = this.mark(target, colour);
      line.userData.unit = target;
      this.marks.push(line);
      this.scene.add(line);
    }
    this.draw();
  }

  // Where the keyboard starts: the pinned unit, the last one it was on, or the input's centre.
  startUnit() {
    if (!this.slots.size) return null;
    const last = this.lastCursor && this.targetOf({ ...this.lastCursor, layer: this.lastCursor.layer.name });
    if (this.pinned()) return this.pinned();
    if (last) return last;
    const [height, width] = this.detail.input_shape;
    return this.targetOf({ layer: "input", channel: 0, y: Math.floor(height / 2), x: Math.floor(width / 2) });
  }

  moveCursor(target) {
    if (!target) return;
    this.cursor = target;
    this.lastCursor = target;
    this.onHover(target); // the Unit box and the edges follow, as for the pointer
    this.showMarks();
  }

  // The unit one cell away in the layer's grid, over the gaps between maps; at the grid's edge,
  // the same unit.
  step(target, dx, dy) {
    const grid = this.slots.get(target.layer.name).grid;
    let { x, y } = grid.cell(target);
    for (;;) {
      x += dx;
      y += dy;
      if (x < 0 || y < 0 || x >= grid.width || y >= grid.height) return target;
      const unit = grid.unitAt(x, y);
      if (unit) return { ...unit, layer: target.layer };
    }
  }

  // The visible layer `by` places up (towards the output) or down: a feature map's unit goes to
  // the same place of the same map (or the last map), so moving through the stack stays over the
  // same part of the image; otherwise to the unit nearest the same place in the layer's grid.
  changeLayer(target, by) {
    const slots = [...this.slots.values()];
    const from = this.slots.get(target.layer.name);
    let next = null;
    for (let i = from.order + by; i >= 0 && i < slots.length && !next; i += by) if (slots[i].mesh.visible) next = slots[i];
    if (!next) return target;
    const grid = next.grid;
    if (from.grid.spatial && grid.spatial) {
      const along = (v, n, m) => Math.min(m - 1, Math.floor(((v + 0.5) * m) / n)); // multiply first: 7.5 / 13 * 26 < 15
      return { layer: next.layer, channel: Math.min(target.channel, grid.maps - 1), y: along(target.y, from.grid.h, grid.h), x: along(target.x, from.grid.w, grid.w) };
    }
    const cell = from.grid.cell(target);
    const [px, py] = [Math.floor(((cell.x + 0.5) / from.grid.width) * grid.width), Math.floor(((cell.y + 0.5) / from.grid.height) * grid.height)];
    let best = grid.unitAt(px, py);
    for (let d = 1, far = Infinity; !best && d < grid.width + grid.height; d++) {
      for (let y = py - d; y <= py + d; y++)
        for (let x = px - d; x <= px + d; x++) {
          const unit = grid.unitAt(x, y);
          const distance = (x - px) ** 2 + (y - py) ** 2;
          if (unit && distance < far) [best, far] = [unit, distance];
        }
    }
    return { ...best, layer: next.layer };
  }

  onKey(event) {
    if (event.altKey || event.ctrlKey || event.metaKey || !this.slots.size) return;
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    const layers = { PageUp: 1, "]": 1, PageDown: -1, "[": -1 };
    const pins = ["Enter", " "];
    if (!(event.key in moves || event.key in layers || pins.includes(event.key) || event.key === "Escape")) return;
    event.preventDefault();
    if (!this.cursor) this.moveCursor(this.startUnit()); // focused by a click: show where the keys start
    const cursor = this.cursor;
    const pinned = this.pinned();
    const same = (a, b) => a && b && formatUnit({ ...a, layer: a.layer.name }) === formatUnit({ ...b, layer: b.layer.name });
    if (event.key in moves) this.moveCursor(this.step(cursor, ...moves[event.key]));
    else if (event.key in layers) this.moveCursor(this.changeLayer(cursor, layers[event.key]));
    else if (pins.includes(event.key) && !same(pinned, cursor)) this.onSelect(cursor);
    else if (event.key === "Escape" && pinned) this.onSelect(pinned); // a pinned unit selected again is released
  }

  // What the browser tests read: boxes and points in viewport css px, from three.js's projection.
  facts() {
    const client = (point) => {
      const rect = this.canvas.getBoundingClientRect();
      const p = this.toScreen(point);
      return { x: rect.left + p.x, y: rect.top + p.y };
    };
    const plain = (target) => formatUnit({ ...target, layer: target.layer.name });
    return {
      canvas: () => this.canvas.getBoundingClientRect().toJSON(),
      planes: () =>
        [...this.slots.values()].map((slot) => {
          const rect = this.canvas.getBoundingClientRect();
          const box = this.boxOf(this.corners(slot));
          return { name: slot.layer.name, visible: slot.mesh.visible, left: rect.left + box.left, right: rect.left + box.right, top: rect.top + box.top, bottom: rect.top + box.bottom };
        }),
      unitPoint: (name, unit) => client(this.position(name, unit)),
      edges: () =>
        this.edgeEnds && {
          unit: plain(this.edgeEnds.target),
          from: this.edgeEnds.from,
          start: client(this.edgeEnds.start),
          ends: this.edgeEnds.ends.map((end) => ({ unit: end.unit, ...client(end.point) })),
        },
      marks: () => this.marks.map((line) => ({ unit: plain(line.userData.unit), colour: line.material.color.getHex(), ...client(this.position(line.userData.unit.layer.name, line.userData.unit)) })),
    };
  }
}
