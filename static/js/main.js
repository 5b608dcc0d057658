// Wires the page: the page state (state.js) to the views, the input panel to the feed, answers to
// the views. No drawing or computing here: each view is its own module.

import { api, server } from "./api.js";
import { AtlasCard } from "./atlas.js";
import { drawLegend } from "./colors.js";
import { ExplainPanel } from "./explain.js";
import { Feed } from "./feed.js";
import { UnitInfo } from "./infobox.js";
import { InputPanel } from "./inputpanel.js";
import { MapCard } from "./mapcard.js";
import { MapDialog } from "./mapdialog.js";
import { NetworkView } from "./network.js";
import { isBig, OVERVIEW_OPTIONS, OverviewView } from "./overview.js";
import { PredictionView } from "./prediction.js";
import { renderSteps } from "./preprocessing.js";
import { ReadingPanel } from "./reading.js";
import { state } from "./state.js";
import { initLessons } from "./lessons/index.js";
import { LessonMode } from "./lesson.js";
import { ProjectorMode } from "./projector.js";
import { initDownloads } from "./export.js";

const $ = (selector) => document.querySelector(selector);
const page = { detail: null, answer: null, big: false, view3d: null };
const PHONE = matchMedia("(max-width: 700px)"); // the phone layout's width, as css/style.css

function showError(message) {
  const banner = $("#status");
  if (banner.textContent === message) return; // called on every pen move: no DOM change, no layout
  banner.textContent = message;
  banner.hidden = !message;
}

// Where the view is computed, and whether the server answers.
function setLiveStatus(status) {
  const badge = $("#live-status");
  page.computedIn = status;
  badge.textContent = { browser: "in your browser", live: "on the server", http: "on the server (HTTP)" }[status] || "reconnecting…";
  badge.title = {
    browser: "This model's view is computed in your browser: drawing needs no server",
    live: "This model's view is computed on the server, over the live channel",
  }[status] || "";
  badge.dataset.computedIn = status;
  badge.classList.toggle("offline", !["live", "browser"].includes(status));
}

// The model input as rows of pixels in [0, 1], for the explanation and map requests.
function currentPixels() {
  if (!page.answer) return null;
  const { shape, values } = page.answer.input;
  const [lo, hi] = page.detail.input_range;
  const [height, width, channels] = shape;
  const rows = [];
  for (let y = 0; y < height; y++) {
    const row = [];
    for (let x = 0; x < width; x++) {
      const pixel = [];
      for (let c = 0; c < channels; c++) pixel.push(Math.min(1, Math.max(0, (values[(y * width + x) * channels + c] - lo) / (hi - lo))));
      row.push(pixel);
    }
    rows.push(row);
  }
  return rows;
}

const feed = new Feed({ onAnswer: showAnswer, onError: showError, onStatus: setLiveStatus });
const panel = new InputPanel({
  onDrawing: (pixels) => {
    showError(""); // a new input: earlier messages no longer apply
    feed.drawingChanged(pixels);
  },
  onFile: (file) => {
    showError("");
    feed.sendFile(file);
  },
  onError: showError,
  holdInk: () => feed.computesInPage(), // its answer comes in a few ms: ink and view in one frame
});
const unitInfo = new UnitInfo($("#info"), { onError: showError, onSelect: (unit) => state.set({ unit }) });
const dialog = new MapDialog($("#map-dialog"), { weightsFor: (layer) => unitInfo.weightsFor(layer), onError: showError });
const hooks = {
  onHover: (target) => unitInfo.hover(target),
  onLeave: () => unitInfo.leave(),
  onSelect: (target) => {
    unitInfo.select(target);
    // on a phone the Unit box is below the network (css/style.css): bring a tapped unit's details into view
    if (PHONE.matches) $("#unit-card").scrollIntoView({ block: "nearest", behavior: "instant" });
  },
};
const network = new NetworkView($("#network"), { ...hooks, announcer: $("#unit-said") });
const overview = new OverviewView($("#overview"), {
  onOpenChannel: (layer, channel, data) => dialog.show(layer, channel, data),
  onLoadLayer: (layer) => api.activationsForPixels(page.detail.id, currentPixels(), "none", { dtype: "uint8", layers: [layer.name] }),
  onError: showError,
});
const prediction = new PredictionView({ seen: $("#seen"), label: $("#prediction"), detail: $("#prediction-detail") });
const explain = new ExplainPanel($("#explain"), { currentPixels, onError: showError, onChoice: (choice) => state.set(choice) });
const mapCard = new MapCard($("#map-card"), { currentPixels, onError: showError });
const atlas = new AtlasCard($("#filters"), { onError: showError });
// "Read a number": one digit's 28x28 field in [0, 1] opens in the network view as the model's input.
const reading = new ReadingPanel($("#read"), {
  onOpen: (field) => {
    const rows = [];
    for (let y = 0; y < 28; y++) rows.push(Array.from(field.data.subarray(y * 28, y * 28 + 28)));
    const [height, width] = page.detail.input_shape;
    feed.sendPixels(rows, height === 28 && width === 28 ? "none" : "resize");
    $("#network").scrollIntoView({ behavior: "smooth", block: "nearest" });
  },
  onError: showError,
});
unitInfo.addAction("Enlarge", (target) => {
  const channel = target.y === undefined ? target.index : target.channel;
  const data = page.answer && page.answer.layers.get(target.layer.name);
  if (target.layer.name !== "input") dialog.show(target.layer, channel, data);
}, "enlarge");

// The view that draws the network now: the 2D view, the 3D view, or a big model's overview.
function activeView() {
  if (page.big) return overview;
  if (state.get("view") === "3d" && page.view3d) return page.view3d;
  return network;
}

function showAnswer(answer) {
  page.answer = answer;
  performance.mark("render-start");
  panel.showInk();
  activeView().render(answer, state.get("scale"));
  prediction.render(answer);
  renderSteps($("#seen-steps"), answer.preprocessing); // an upload's digit preprocessing steps, if any
  unitInfo.setAnswer(answer);
  explain.showInput(answer);
  performance.measure("render", "render-start");
  mapCard.place();
}

async function showView() {
  const want3d = state.get("view") === "3d" && !page.big;
  $("[data-testid=view-3d]").checked = want3d;
  if (want3d && !page.view3d) {
    const { View3D } = await import("./network3d.js"); // three.js loads only when asked for
    page.view3d = new View3D($("#network-3d"), hooks);
    if (page.detail) page.view3d.setModel(page.detail);
  }
  $("#network").hidden = page.big || want3d;
  $("#overview").hidden = !page.big;
  $("#network-3d").hidden = !want3d;
  if (page.view3d) page.view3d.setActive(want3d);
  if (!page.big && !want3d) network.layout();
  if (page.answer) activeView().render(page.answer, state.get("scale"));
  unitInfo.setView(activeView());
}

async function loadModel(id) {
  delete document.body.dataset.ready;  // set once the model's view, engine and first input are in
  try {
    const detail = await api.model(id);
    page.detail = detail;
    page.answer = null;
    page.big = isBig(detail);
    $("#model-description").textContent = detail.description;
    $("#model-description").title = detail.description;
    $("#view-switch").hidden = page.big;
    unitInfo.setModel(detail);
    if (page.big) overview.setModel(detail);
    else network.setModel(detail);
    if (page.view3d) page.view3d.setModel(detail);
    for (const part of [dialog, prediction, explain, atlas, panel, reading]) part.setModel(detail);
    renderSteps($("#seen-steps"), null);
    mapCard.setModel(detail);
    explain.choose({ method: state.get("method"), cls: state.get("class") });
    unitInfo.restore(state.get("unit"));
    await showView();
    await feed.setModel(detail, page.big ? OVERVIEW_OPTIONS : {});
    await panel.start();
    document.body.dataset.ready = id;
  } catch (error) {
    showError(error.detail || String(error));
  }
}

state.subscribe((changed) => {
  if (changed.has("scale")) {
    $("#scale").value = state.get("scale");
    if (page.answer) activeView().render(page.answer, state.get("scale"));
  }
  if (changed.has("view")) showView();
});

// The server went away or came back. Drawing goes on in the page when the engine runs the model;
// on return, what needs the server (the map and its neighbours) catches up with the newest drawing.
server.onChange((away) => {
  const badge = $("#server-away");
  badge.hidden = !away;
  badge.textContent = page.computedIn === "browser" ? "server away: drawing still works" : "server away: waiting for it";
  if (!away) {
    showError("");
    feed.serverBack();
    mapCard.place();
  }
});

// A reload works offline too (static/js/sw.js): the service worker keeps what this page loaded.
// Browsers allow it on https and on localhost only; elsewhere the page works as before.
async function keepForOffline() {
  if (!("serviceWorker" in navigator) || !window.isSecureContext) return;
  try {
    const registration = await navigator.serviceWorker.register("/sw.js");
    await navigator.serviceWorker.ready;
    const urls = [location.href, ...performance.getEntriesByType("resource").map((entry) => entry.name)];
    (registration.active || navigator.serviceWorker.controller).postMessage({ type: "keep", urls });
  } catch (error) {
    console.warn(`No offline copy of the page: ${error}`);
  }
}

navigator.serviceWorker?.addEventListener("message", (event) => {
  if (event.data && event.data.type === "kept") window.convnetVis.keptForOffline = event.data.count;
});

// The network's height is the window's below the header (css/style.css), and the header wraps
// onto more lines in a narrow or zoomed window.
function followHeaderHeight() {
  const header = $(".top");
  const keep = () => document.documentElement.style.setProperty("--header-height", `${header.offsetHeight}px`);
  new ResizeObserver(keep).observe(header);
  keep();
}

async function start() {
  followHeaderHeight();
  $("#scale").value = state.get("scale");
  $("#scale").addEventListener("change", (event) => state.set({ scale: event.target.value }));
  $("[data-testid=view-3d]").addEventListener("change", (event) => state.set({ view: event.target.checked ? "3d" : "2d" }));
  drawLegend($("#legend"), false);
  const current = () => ({ detail: page.detail, answer: page.answer, pixels: currentPixels });
  const lessons = initLessons({ current });
  new ProjectorMode({ network });
  initDownloads(() => ({ detail: page.detail, network, view3d: page.view3d, view: state.get("view"), big: page.big }));
  // a lesson step pins a unit as a click would, so the Unit box, the edges and the link follow
  const pin = (unit) => {
    state.set({ unit });
    unitInfo.restore(unit);
  };
  new LessonMode($("#lesson-mode"), { current, lessons, pin }).load();
  try {
    const { models } = await api.models();
    if (!models.length) {
      showError("This server serves no models. Put a .keras file in its models folder and restart it.");
      return;
    }
    const picker = $("#model");
    picker.replaceChildren(...models.map((model) => new Option(`${model.name} (${model.parameters.toLocaleString()} parameters)`, model.id)));
    const wanted = state.get("model");
    picker.value = models.some((model) => model.id === wanted) ? wanted : models[0].id;
    state.set({ model: picker.value });
    picker.addEventListener("change", () => {
      state.set({ model: picker.value, unit: "", class: "" }); // a unit or class of another model means nothing here
      loadModel(picker.value);
    });
    await loadModel(picker.value);
    keepForOffline();
  } catch (error) {
    showError(error.detail || String(error));
  }
}

start();
