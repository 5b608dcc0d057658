// Lesson mode: a guided path through the course on the student's own drawing. The steps are data
// (static/lessons/course.json: title, what to look at, one question, what to show, what to set up),
// so a teacher edits the text without touching code. Each step lights the part of the page it is
// about and dims the rest, sets that part up (opens a Lessons section, picks a kernel, pins a unit)
// and is its own link: the page state's `lesson` field is the step's number (?lesson=5).

import { api } from "./api.js";
import { state } from "./state.js";

const WAIT_MS = 20_000; // longest wait for a part of the page to be ready before a step gives up on it
const KEYS = { ArrowRight: 1, PageDown: 1, ArrowLeft: -1, PageUp: -1 }; // presenter remotes send PageUp/PageDown

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Wait for `ready()` to hold; null if it does not in time or if `live()` stops holding (a newer
// step was asked for, so this one's setup must not touch the page any more).
async function until(ready, live) {
  for (let waited = 0; waited < WAIT_MS && live(); waited += 100) {
    const value = ready();
    if (value) return value;
    await sleep(100);
  }
  return null;
}

// Set a control as a person would, so its own listeners run.
function choose(control, value, type = "change") {
  if (!control) return;
  if (control.type === "checkbox") control.checked = Boolean(value);
  else control.value = value;
  control.dispatchEvent(new Event(type, { bubbles: true }));
}

// "input", "output", "conv.0" (the first Conv layer), "dense.-1" (the last Dense), "dense.all".
export function resolveLayers(reference, detail) {
  if (!detail) return [];
  const drawn = detail.layers.filter((layer) => !layer.is_container);
  if (reference === "input") return ["input"];
  if (reference === "output") return drawn.length ? [drawn[drawn.length - 1].name] : [];
  const [kind, which] = reference.split(".");
  const ofKind = drawn.filter((layer) => layer.kind === kind).map((layer) => layer.name);
  if (which === "all") return ofKind;
  const index = Number(which);
  const name = ofKind[index < 0 ? ofKind.length + index : index];
  return name ? [name] : [];
}

// The unit of a layer that the current input excites most: {channel, y, x} or {index}.
function strongestUnit(layer, answer) {
  const data = answer && answer.layers.get(layer.name);
  if (!data) return null;
  let best = 0;
  for (let i = 1; i < data.values.length; i++) if (data.values[i] > data.values[best]) best = i;
  if (layer.output_shape.length !== 3) return { index: best };
  const [, width, channels] = layer.output_shape;
  return { channel: best % channels, x: Math.floor(best / channels) % width, y: Math.floor(best / channels / width) };
}

export class LessonMode {
  // page: {current() -> {detail, answer}, lessons (the Lessons panel's views), pin(unitText)}
  constructor(root, page) {
    this.root = root;
    this.page = page;
    this.course = null;
    this.run = 0; // the newest step shown; an older step's setup stops when it sees a newer one
    const $ = (name) => root.querySelector(`[data-lm=${name}]`);
    this.el = { count: $("count"), title: $("title"), look: $("look"), ask: $("ask"), prev: $("prev"), next: $("next"), close: $("close"), jump: $("jump") };
    this.el.prev.addEventListener("click", () => this.move(-1));
    this.el.next.addEventListener("click", () => this.move(1));
    this.el.close.addEventListener("click", () => state.set({ lesson: "" }));
    this.el.jump.addEventListener("change", () => state.set({ lesson: this.el.jump.value }));
    document.querySelector("[data-testid=lesson-start]").addEventListener("click", () => state.set({ lesson: state.get("lesson") || "1" }));
    document.addEventListener("keydown", (event) => this.onKey(event));
    state.subscribe((changed) => changed.has("lesson") && this.show());
    // a model change rebuilds the network view: light the new model's layers
    new MutationObserver(() => document.body.dataset.ready && this.show()).observe(document.body, { attributeFilter: ["data-ready"] });
    new ResizeObserver(() => this.fitPanel()).observe(root);
  }

  async load() {
    try {
      this.course = await api.course();
    } catch (error) {
      this.course = { steps: [] };
      console.warn(`No lesson course: ${error.detail || error}`);
    }
    this.el.jump.replaceChildren(...this.course.steps.map((step, i) => new Option(`${i + 1}. ${step.title}`, String(i + 1))));
    await this.show();
  }

  get number() {
    const wanted = Number(state.get("lesson"));
    return this.course && wanted >= 1 ? Math.min(wanted, this.course.steps.length) : 0;
  }

  move(by) {
    const next = Math.min(Math.max(1, this.number + by), this.course.steps.length);
    state.set({ lesson: String(next) });
  }

  onKey(event) {
    if (!this.number || !(event.key in KEYS) || event.altKey || event.ctrlKey || event.metaKey) return;
    // the arrows belong to a control or a layer being moved through with the keyboard
    if (event.target.closest && event.target.closest("input, select, textarea, canvas, [contenteditable]")) return;
    event.preventDefault();
    this.move(KEYS[event.key]);
  }

  async show() {
    if (!this.course) return;
    const number = this.number;
    const run = ++this.run;
    document.body.classList.toggle("lesson-on", number > 0);
    this.root.hidden = number === 0;
    if (!number) {
      this.spotlight([]);
      return;
    }
    const step = this.course.steps[number - 1];
    const total = this.course.steps.length;
    this.root.dataset.step = String(number);
    this.el.count.textContent = `Step ${number} of ${total}${step.minutes ? ` · about ${step.minutes} min` : ""}`;
    this.el.title.textContent = step.title;
    this.el.look.textContent = step.look;
    this.el.ask.textContent = step.ask;
    this.el.jump.value = String(number);
    this.el.prev.disabled = number === 1;
    this.el.next.disabled = number === total;
    this.fitPanel();
    this.spotlight(this.targets(step), false);
    const live = () => run === this.run;
    const actions = this.actions(live);
    for (const action of step.do || []) {
      if (!live()) return;
      const [name, argument] = Object.entries(action)[0];
      try {
        await actions[name](argument);
      } catch (error) {
        console.warn(`Lesson step ${number}: ${name} did not run: ${error}`);
      }
    }
    if (run !== this.run) return;
    this.spotlight(this.targets(step), true);
    this.root.dataset.shown = String(number); // set up and in view: what the tests wait for
  }

  // The elements a step shows, in the page as it is now (a layer of the model in the network view).
  targets(step) {
    const { detail } = this.page.current();
    const found = [];
    for (const reference of step.show || []) {
      if (reference.startsWith("layer:")) {
        for (const name of resolveLayers(reference.slice(6), detail)) {
          const section = document.querySelector(`#network [data-layer="${CSS.escape(name)}"]`);
          if (section) found.push(section);
        }
      } else found.push(...document.querySelectorAll(reference));
    }
    return found.filter((node) => node.getClientRects().length > 0); // hidden parts (the 3D view's twin) are skipped
  }

  // Light `targets`, dim everything beside them on their way up to <body>; scroll the first into view.
  spotlight(targets, scroll) {
    for (const node of document.querySelectorAll(".lesson-dim, .lesson-focus")) node.classList.remove("lesson-dim", "lesson-focus");
    if (!targets.length) return;
    const lit = new Set(targets);
    const ancestors = new Set([document.body]);
    for (const target of targets) for (let node = target.parentElement; node && node !== document.body; node = node.parentElement) ancestors.add(node);
    for (const ancestor of ancestors) {
      if (lit.has(ancestor)) continue;
      for (const child of ancestor.children) {
        if (lit.has(child) || ancestors.has(child) || child === this.root || child.matches("script, link, style, dialog, .network-overlay")) continue;
        // a docked part (a phone's pad, sticky over the network) stays lit: dimmed, what scrolls under it would show through
        if (getComputedStyle(child).position === "sticky") continue;
        child.classList.add("lesson-dim");
      }
    }
    for (const target of targets) target.classList.add("lesson-focus");
    if (scroll) {
      const first = targets[0];
      const room = window.innerHeight - this.root.offsetHeight;
      first.scrollIntoView({ block: first.offsetHeight < room ? "center" : "start", behavior: "instant" });
    }
  }

  // The panel covers the bottom of the window: keep scrolled-to parts above it.
  fitPanel() {
    document.documentElement.style.setProperty("--lesson-panel", `${this.root.hidden ? 0 : this.root.offsetHeight}px`);
  }

  // What a step's `do` can set up, by name; each waits for its part of the page, then acts only if
  // its step is still the one asked for.
  actions(live) {
    const page = this.page;
    const lessons = page.lessons;
    const modelId = () => document.body.dataset.ready;
    const wait = (ready) => until(ready, live);
    const ready = () => wait(() => modelId() && page.current().answer);
    const layerNamed = (reference) => {
      const { detail } = page.current();
      const [name] = resolveLayers(reference, detail);
      return detail && detail.layers.find((layer) => layer.name === name);
    };
    return {
      view: (which) => state.set({ view: which }),
      // open these sections of the Lessons panel and close the others
      open: async (names) => {
        const open = [].concat(names);
        for (const section of document.querySelectorAll("#lessons details[data-lesson]")) section.open = open.includes(section.dataset.lesson);
      },
      kernel: async ({ preset, relu }) => {
        const lab = lessons.kernel;
        if (!(await ready()) || !(await wait(() => lab.presets && lab.detail && lab.detail.id === modelId() && lab.presets.has(preset)))) return;
        choose(lab.el.source, "input");
        choose(lab.el.relu, relu);
        choose(lab.el.preset, preset);
      },
      // one cell's computation, on the cell of the layer the drawing excites most
      how: async (reference) => {
        const view = lessons.step;
        if (!(await ready()) || !(await wait(() => view.detail && view.detail.id === modelId()))) return;
        const layer = layerNamed(reference);
        const unit = layer && strongestUnit(layer, page.current().answer);
        if (unit) await view.show({ layer: layer.name, ...unit });
      },
      pin: async (reference) => {
        if (!(await ready())) return;
        const layer = layerNamed(reference);
        const unit = layer && strongestUnit(layer, page.current().answer);
        if (unit) page.pin(unit.index === undefined ? `${layer.name}:${unit.channel},${unit.y},${unit.x}` : `${layer.name}:${unit.index}`);
      },
      explain: async (method) => {
        const select = document.querySelector("#explain-method");
        if (await wait(() => select.querySelector(`option[value="${method}"]`))) choose(select, method);
      },
      atlas: async (reference) => {
        if (!(await ready())) return;
        const layer = layerNamed(reference);
        if (layer) choose(document.querySelector("#atlas-layer"), layer.name);
      },
    };
  }
}
