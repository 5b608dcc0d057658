// Pictures for slides (issue 27): any view downloaded as a PNG at twice its size on screen, and the
// 2D network as SVG. A view is composed from what the page shows, at devicePixelRatio 2 whatever the
// screen's: the backgrounds and borders of its boxes, its canvases and images at their places (cells
// kept sharp), and its text in its own font and colour, so labels are drawn, not lost. No library:
// html2canvas would be the kept-library choice, but a view here is a few boxes, canvases and labels.

export const SCALE = 2;
const SVG_NS = "http://www.w3.org/2000/svg";

// "mnist-lenet", "unit", "conv1:3,9,14" -> "mnist-lenet_unit_conv1-3-9-14" (no extension)
export function fileName(model, view, part = "") {
  return [model, view, part].filter(Boolean).map((piece) => String(piece).replace(/[^\w.-]+/g, "-")).join("_");
}

const transparent = (colour) => !colour || colour === "transparent" || /rgba\(.*,\s*0\)$/.test(colour);

// The colour behind an element: its own background or the first one up its ancestors.
function backgroundOf(element) {
  for (let node = element; node; node = node.parentElement) {
    const colour = getComputedStyle(node).backgroundColor;
    if (!transparent(colour)) return colour;
  }
  return "#fff";
}

function paintBox(context, rect, style) {
  if (!transparent(style.backgroundColor)) {
    context.fillStyle = style.backgroundColor;
    context.fillRect(rect.left, rect.top, rect.width, rect.height);
  }
  const sides = [
    ["Top", (w) => [rect.left, rect.top, rect.width, w]],
    ["Bottom", (w) => [rect.left, rect.bottom - w, rect.width, w]],
    ["Left", (w) => [rect.left, rect.top, w, rect.height]],
    ["Right", (w) => [rect.right - w, rect.top, w, rect.height]],
  ];
  for (const [side, box] of sides) {
    const width = parseFloat(style[`border${side}Width`]);
    const colour = style[`border${side}Color`];
    if (width > 0 && style[`border${side}Style`] !== "none" && !transparent(colour)) {
      context.fillStyle = colour;
      context.fillRect(...box(width));
    }
  }
}

// A text node word by word, each where the page laid it out (wrapped lines included).
function paintText(context, node, style) {
  const text = node.textContent;
  if (!text.trim()) return;
  context.font = `${style.fontStyle} ${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
  context.fillStyle = style.color;
  context.textBaseline = "middle";
  const range = document.createRange();
  for (const word of text.matchAll(/\S+/g)) {
    range.setStart(node, word.index);
    range.setEnd(node, word.index + word[0].length);
    const rect = range.getBoundingClientRect();
    if (rect.width) context.fillText(word[0], rect.left, rect.top + rect.height / 2);
  }
}

// A form field shows its value: a number in the kernel lab, a chosen option.
function fieldText(element) {
  if (element instanceof HTMLSelectElement) return element.selectedOptions[0] ? element.selectedOptions[0].textContent : "";
  if (element instanceof HTMLInputElement && ["text", "number", ""].includes(element.type)) return element.value;
  return "";
}

// An inline SVG (the faithfulness curves) as an image: a copy with the styles the page's CSS gives
// its shapes written on them as presentation attributes, since an SVG drawn as an image sees no
// stylesheet.
const SVG_STYLES = ["fill", "stroke", "stroke-width", "stroke-dasharray", "opacity", "font-size", "font-family", "font-weight"];
async function svgImage(svg) {
  const copy = svg.cloneNode(true);
  const originals = [svg, ...svg.querySelectorAll("*")];
  [copy, ...copy.querySelectorAll("*")].forEach((node, i) => {
    const style = getComputedStyle(originals[i]);
    for (const name of SVG_STYLES) node.setAttribute(name, style.getPropertyValue(name)); // attributes: the CSP forbids inline styles
  });
  const rect = svg.getBoundingClientRect();
  copy.setAttribute("width", rect.width);
  copy.setAttribute("height", rect.height);
  copy.setAttribute("xmlns", SVG_NS);
  const image = new Image();
  image.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(new XMLSerializer().serializeToString(copy))}`;
  await image.decode();
  return image;
}

function paint(context, element, replace) {
  const style = getComputedStyle(element);
  if (style.display === "none" || style.visibility === "hidden" || element.hidden || element.hasAttribute("data-export-skip")) return;
  const rect = element.getBoundingClientRect();
  if (parseFloat(style.opacity) < 1) {
    context.save();
    context.globalAlpha *= parseFloat(style.opacity);
    paintInside(context, element, style, rect, replace);
    context.restore();
  } else paintInside(context, element, style, rect, replace);
}

function paintInside(context, element, style, rect, replace) {
  paintBox(context, rect, style);
  const picture = replace.get(element) || element;
  if (picture instanceof HTMLCanvasElement || (picture instanceof HTMLImageElement && picture.complete && picture.naturalWidth)) {
    if (picture.width && picture.height) context.drawImage(picture, rect.left, rect.top, rect.width, rect.height);
    return;
  }
  const value = fieldText(element);
  if (value) {
    context.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    context.fillStyle = style.color;
    context.textBaseline = "middle";
    context.fillText(value, rect.left + parseFloat(style.paddingLeft) + parseFloat(style.borderLeftWidth), rect.top + rect.height / 2, rect.width);
  }
  for (const child of element.childNodes) {
    if (child.nodeType === Node.TEXT_NODE) paintText(context, child, style);
    else if (child.nodeType === Node.ELEMENT_NODE) paint(context, child, replace);
  }
}

// The element as one canvas at `scale` x its css size. replace: Map(element -> canvas drawn in its
// place), for a WebGL canvas rendered once more at the picture's scale.
export async function compose(root, { scale = SCALE, replace = new Map() } = {}) {
  for (const svg of root.querySelectorAll("svg")) if (!replace.has(svg)) replace.set(svg, await svgImage(svg));
  const box = root.getBoundingClientRect();
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(box.width * scale);
  canvas.height = Math.round(box.height * scale);
  const context = canvas.getContext("2d");
  context.imageSmoothingEnabled = false; // a cell stays a sharp square of its colour
  context.scale(scale, scale);
  context.translate(-box.left, -box.top);
  context.fillStyle = backgroundOf(root);
  context.fillRect(box.left, box.top, box.width, box.height);
  context.beginPath();
  context.rect(box.left, box.top, box.width, box.height);
  context.clip();
  paint(context, root, replace);
  return canvas;
}

function save(blob, name) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

export const downloadCanvas = (canvas, name) =>
  new Promise((resolve) => canvas.toBlob((blob) => resolve(save(blob, `${name}.png`)), "image/png"));

// The 2D network as SVG: each layer a group of one rect per unit drawn (its colour from the layer's
// canvas), the output bars as rects, and every label as text, in the view's css pixels.
export function networkSvg(view) {
  const container = view.container;
  const box = container.getBoundingClientRect();
  const at = (rect) => ({ x: rect.left - box.left, y: rect.top - box.top });
  const svg = document.createElementNS(SVG_NS, "svg");
  const node = (tag, attributes, text) => {
    const made = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attributes)) made.setAttribute(key, value);
    if (text !== undefined) made.textContent = text;
    return made;
  };
  Object.entries({ xmlns: SVG_NS, width: box.width, height: box.height, viewBox: `0 0 ${box.width} ${box.height}` }).forEach(([k, v]) => svg.setAttribute(k, v));
  svg.append(node("rect", { width: box.width, height: box.height, fill: backgroundOf(container) }));
  const textOf = (element, extra = {}) => {
    const style = getComputedStyle(element);
    const rect = element.getBoundingClientRect();
    const { x, y } = at(rect);
    return node("text", { x, y: y + rect.height / 2, "dominant-baseline": "middle", "font-size": style.fontSize, "font-family": style.fontFamily, "font-weight": style.fontWeight, fill: style.color, ...extra }, element.textContent);
  };
  for (const slot of view.slots.values()) {
    const group = node("g", { "data-layer": slot.layer.name });
    for (const label of slot.section.querySelectorAll(".layer-label > span")) if (label.textContent) group.append(textOf(label));
    if (slot.canvas && slot.grid) {
      const rect = slot.canvas.getBoundingClientRect();
      const origin = at(rect);
      const cell = rect.width / slot.grid.width;
      const pixels = slot.context.getImageData(0, 0, slot.grid.width, slot.grid.height).data;
      for (let y = 0; y < slot.grid.height; y++)
        for (let x = 0; x < slot.grid.width; x++) {
          if (!slot.grid.unitAt(x, y)) continue; // a gap between maps
          const p = (y * slot.grid.width + x) * 4;
          group.append(node("rect", { class: "unit", x: origin.x + x * cell, y: origin.y + y * cell, width: cell, height: cell, fill: `rgb(${pixels[p]},${pixels[p + 1]},${pixels[p + 2]})` }));
        }
    }
    for (const bar of slot.bars || []) {
      for (const part of [bar.row.querySelector(".bar-track"), bar.fill]) {
        const rect = part.getBoundingClientRect();
        const { x, y } = at(rect);
        group.append(node("rect", { class: part === bar.fill ? "unit" : "track", x, y, width: rect.width, height: rect.height, fill: getComputedStyle(part).backgroundColor }));
      }
      group.append(textOf(bar.value), textOf(bar.row.querySelector(".bar-label")));
    }
    svg.append(group);
  }
  return new XMLSerializer().serializeToString(svg);
}

export const downloadSvg = (text, name) => save(new Blob([text], { type: "image/svg+xml" }), `${name}.svg`);

// A "Download PNG" button (and more, for the network) in `host`: make() -> {canvas, name} or null.
export function downloadButton(host, view, make, label = "Download PNG") {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "download";
  button.textContent = label;
  button.title = `Download this view as a picture at ${SCALE}x, for slides`;
  button.dataset.testid = "download";
  button.dataset.view = view;
  button.setAttribute("data-export-skip", ""); // not in its own picture
  button.addEventListener("click", async () => {
    const made = await make();
    if (!made) return;
    if (made.svg) downloadSvg(made.svg, made.name);
    else await downloadCanvas(made.canvas, made.name);
  });
  host.append(button);
  return button;
}

const $ = (selector) => document.querySelector(selector);
const valueOf = (selector) => ($(selector) ? $(selector).value : "");
const nonEmpty = (element) => element && !element.hidden && element.getBoundingClientRect().width > 0 && element.getBoundingClientRect().height > 0;

// Every view's download button, wired once. page() -> {detail, network (the 2D view), view3d (or
// null), view: "2d" | "3d", big (the overview is shown)}.
export function initDownloads(page) {
  const model = () => (page().detail ? page().detail.id : "model");
  const picture = async (root, view, part = "") => (nonEmpty(root) ? { canvas: await compose(root), name: fileName(model(), view, part) } : null);

  // the network, 2D or 3D, with a pinned unit's name: buttons over the view's top right corner
  const wrap = $(".network-wrap");
  const bar = document.createElement("div");
  bar.className = "export-bar";
  wrap.append(bar);
  const pinned = () => new URL(location.href).searchParams.get("unit") || "";
  downloadButton(bar, "network", async () => {
    const { view, view3d, big } = page();
    if (big) return picture($("#overview"), "network", "overview");
    if (view === "3d" && view3d) {
      const root = $("#network-3d");
      if (!nonEmpty(root)) return null;
      const canvas = await compose(root, { replace: new Map([[view3d.canvas, view3d.snapshot(SCALE)]]) });
      return { canvas, name: fileName(model(), "network", `3d${pinned() ? "_" + pinned() : ""}`) };
    }
    const { network } = page();
    network.setEdgeRatio(SCALE); // a pinned unit's edges as sharp as the cells
    try {
      return await picture($("#network"), "network", `2d${pinned() ? "_" + pinned() : ""}`);
    } finally {
      network.setEdgeRatio(null);
    }
  }, "PNG");
  const svg = downloadButton(bar, "network-svg", () => {
    const { view, network, big } = page();
    return big || view === "3d" ? null : { svg: networkSvg(network), name: fileName(model(), "network", "2d") };
  }, "SVG");
  svg.title = "Download the 2D network as SVG: every unit a rect, every label text";

  const cards = [
    ["unit", "#info", () => $("#info").closest(".card"), () => $("#info").dataset.unit || ""],
    ["map-card", "#neighbours", () => $("#map-card"), () => ""],
    ["map", "#map-dialog", () => $("#map-dialog"), () => $("#map-title").textContent],
    ["explain", "#explain-result", () => $("#explain-result"), () => `${valueOf("#explain-method")}-class-${valueOf("#explain-class") || "top"}`],
    ["filter-atlas", "#atlas-result", () => $("#atlas-result"), () => valueOf("#atlas-layer")],
    ["conv-step", "[data-lesson=step] .cs-body", () => $("[data-lesson=step] .cs-body"), () => ["layer", "channel", "row", "col"].map((k) => valueOf(`[data-cs=${k}]`)).join("-")],
    ["kernel-lab", "[data-lesson=kernel] .lesson-figures", () => $("[data-lesson=kernel] .lesson-figures"), () => `${valueOf("[data-kl=source]")}-${valueOf("[data-kl=channel]")}-${valueOf("[data-kl=preset]")}`],
    ["pool-lab", "[data-lesson=pool] > .lesson-figures", () => $("[data-lesson=pool] > .lesson-figures"), () => `${valueOf("[data-pl=source]")}-${valueOf("[data-pl=channel]")}`],
    ["invariance-sweep", "[data-iv=plot]", () => $("[data-iv=plot]"), () => valueOf("[data-iv=transform]")],
  ];
  for (const [view, after, root, part] of cards) {
    const anchor = $(after);
    if (!anchor) continue;
    // after the view, in its card: a dialog's button before its Close
    const host = document.createElement("div");
    host.className = "row export-row";
    host.setAttribute("data-export-skip", "");
    if (view === "map") $("#map-close").before(host);
    else anchor.after(host);
    downloadButton(host, view, () => picture(root(), view, part()));
  }
}
