// The 3D view, like Harley's 3D page: each layer a plane of cells (the same grid images as the 2D
// view), stacked from the input at the bottom to the output at the top, under an orbit camera
// (drag to rotate, right-drag to pan, wheel to zoom). Hover draws the same edges, click pins the
// unit; each layer can be hidden. three.js is vendored under static/vendor/three (no CDN).

import * as THREE from "../vendor/three/three.module.js";
import { OrbitControls } from "../vendor/three/OrbitControls.js";
import { channelRange, paintGrid } from "./colors.js";
import { Grid } from "./layout.js";
import { DENSE_EDGES, element, inputLayer } from "./network.js";

const SPACING = 10; // world units between layers
const MAX_SIDE = 40; // the widest plane, in world units

function squareColumns(shape, rgb) {
  if (shape.length !== 3) return Math.ceil(Math.sqrt(shape.reduce((a, b) => a * b, 1)));
  const maps = rgb ? 1 : shape[2];
  return Math.max(1, Math.round(Math.sqrt((maps * shape[0]) / shape[1])));
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
    this.canvas.setAttribute("aria-label", "The network in 3D: drag to rotate, right-drag to pan, wheel to zoom");
    container.append(this.toggles, this.canvas);
    this.scene = new THREE.Scene();
    this.scene.background = new THREE.Color(0x000000);
    this.camera = new THREE.PerspectiveCamera(45, 1, 0.1, 2000);
    this.controls = new OrbitControls(this.camera, this.canvas);
    this.controls.addEventListener("change", () => this.draw());
    this.raycaster = new THREE.Raycaster();
    this.edges = null;
    this.slots = new Map();
    new ResizeObserver(() => this.resize()).observe(container);
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
    this.showEdges(null, null, []);
    const rgb = detail.input_shape[2] === 3;
    const layers = [inputLayer(detail), ...detail.layers.filter((layer) => !layer.is_container)];
    const widest = Math.max(...layers.map((layer) => new Grid(layer.output_shape, squareColumns(layer.output_shape, rgb && layer.name === "input"), { rgb: rgb && layer.name === "input" }).width));
    this.toggles.replaceChildren();
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
      const slot = { layer, grid, source, texture, mesh, width, depth, isInput, rgb: isInput && rgb };
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
    const height = (layers.length - 1) * SPACING;
    this.controls.target.set(0, height / 2, 0);
    this.camera.position.set(MAX_SIDE * 0.6, height / 2 + MAX_SIDE * 0.85, MAX_SIDE * 1.0 + height * 0.62);
    this.controls.update();
    this.resize();
  }

  setActive(active) {
    this.active = active;
    if (active) this.resize();
  }

  resize() {
    const width = this.canvas.parentElement.clientWidth;
    const height = this.canvas.parentElement.clientHeight - this.toggles.offsetHeight;
    if (width <= 0 || height <= 0) return;
    this.renderer.setSize(width, height);
    this.camera.aspect = width / height;
    this.camera.updateProjectionMatrix();
    this.draw();
  }

  draw() {
    if (this.active) this.renderer.render(this.scene, this.camera);
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
    if (this.field) {
      this.scene.remove(this.field);
      this.field.geometry.dispose();
      this.field.material.dispose();
      this.field = null;
    }
    if (!region) return;
    const slot = this.slots.get("input");
    const { y0, y1, x0, x1 } = region.box;
    const half = slot.width / slot.grid.width / 2;
    const corner = (y, x, dy, dx) => {
      const p = this.position("input", { channel: 0, y, x });
      return [p.x + dx * half, p.y + 0.02, p.z + dy * half];
    };
    const points = [corner(y0, x0, -1, -1), corner(y0, x1, -1, 1), corner(y1, x1, 1, 1), corner(y1, x0, 1, -1)].flat();
    const geometry = new THREE.BufferGeometry();
    geometry.setAttribute("position", new THREE.Float32BufferAttribute(points, 3));
    this.field = new THREE.LineLoop(geometry, new THREE.LineBasicMaterial({ color: 0x39d353 }));
    this.scene.add(this.field);
  }

  // The hovered unit's edges to every unit it reads, coloured by signed weight (brighter: stronger).
  showEdges(target, connections, regions) {
    if (this.edges) {
      this.scene.remove(this.edges);
      this.edges.geometry.dispose();
      this.edges.material.dispose();
      this.edges = null;
    }
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
      connections.units.forEach((edge, i) => {
        if (kept && !kept.has(i)) return;
        const end = this.position(connections.from, edge.unit);
        if (!end) return;
        const strength = 0.15 + 0.85 * (magnitude[i] / top);
        const colour = edge.weight === null ? [0.22, 0.83, 0.33] : edge.weight >= 0 ? [1, 0.38, 0.25] : [0.31, 0.59, 1];
        points.push(start.x, start.y, start.z, end.x, end.y, end.z);
        for (let k = 0; k < 2; k++) colours.push(...colour.map((c) => c * strength));
      });
      const geometry = new THREE.BufferGeometry();
      geometry.setAttribute("position", new THREE.Float32BufferAttribute(points, 3));
      geometry.setAttribute("color", new THREE.Float32BufferAttribute(colours, 3));
      this.edges = new THREE.LineSegments(geometry, new THREE.LineBasicMaterial({ vertexColors: true }));
      this.scene.add(this.edges);
    }
    this.outline((regions || []).find((region) => region.receptiveField));
    this.draw();
  }
}
