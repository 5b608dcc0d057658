// The Lessons panel (templates/lessons.html): the convolution step, the kernel lab, the pooling
// lab, the invariance explorer and the model summary. `initLessons` is the one entry point;
// `current()` returns {detail, answer, pixels()} of the page (pixels: the model input in [0, 1]).
// The page's unit info box offers "how was this computed?" as a button with data-how; clicking
// it dispatches `convnet-vis:how` on document with {layer, y, x, channel}, which opens the step view.

import { ConvStepView, targetOf } from "./convstep.js";
import { InvarianceExplorer } from "./invariance.js";
import { KernelLab } from "./kernellab.js";
import { PoolLab } from "./poollab.js";
import { SummaryTable } from "./summary.js";

const WATCH_INTERVAL = 300; // ms between looks for a new model or a new input

export function initLessons({ current }) {
  const root = document.querySelector("#lessons");
  if (!root) return null;
  const part = (name) => root.querySelector(`[data-lesson=${name}]`);
  const views = {
    step: new ConvStepView(part("step"), { current }),
    kernel: new KernelLab(part("kernel"), { current }),
    pool: new PoolLab(part("pool"), { current }),
    invariance: new InvarianceExplorer(part("invariance"), { current }),
    summary: new SummaryTable(part("summary")),
  };
  // views that follow the input while their section is open
  const followers = { kernel: () => views.kernel.run(), pool: () => views.pool.run(), invariance: () => views.invariance.update() };
  for (const [name, refresh] of Object.entries(followers)) {
    part(name).addEventListener("toggle", (event) => event.target.open && refresh());
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest("[data-how]");
    if (button) document.dispatchEvent(new CustomEvent("convnet-vis:how", { detail: targetOf(button) }));
  });
  // "how was this computed?" docks the step view beside the network (over the details column) instead
  // of scrolling the page down to the Lessons; closing it puts it back under their heading.
  const step = part("step");
  const undock = step.querySelector("[data-cs=undock]");
  const dock = (docked) => {
    step.classList.toggle("docked", docked);
    document.body.classList.toggle("step-docked", docked);
    undock.hidden = !docked;
  };
  undock.addEventListener("click", () => {
    dock(false);
    step.open = false;
  });
  step.addEventListener("toggle", () => !step.open && dock(false));
  document.addEventListener("convnet-vis:how", (event) => {
    dock(true);
    step.open = true;
    views.step.show(event.detail);
  });

  window.convnetVisLessons = Object.assign(window.convnetVisLessons || {}, { views });
  let detail = null;
  let answer = null;
  setInterval(() => {
    const now = current();
    if (now.detail && now.detail !== detail) {
      detail = now.detail;
      for (const view of Object.values(views)) view.setModel(detail);
    }
    if (now.answer && now.answer !== answer) {
      answer = now.answer;
      for (const [name, refresh] of Object.entries(followers)) if (part(name).open) refresh();
    }
  }, WATCH_INTERVAL);
  return views;
}
