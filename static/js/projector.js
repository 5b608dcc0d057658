// Projector mode and the colour theme: the network fills the screen with labels a back row can read,
// on the dark theme or a light high-contrast one. All three settings are page state, so a teacher's
// link opens the room's setup (?projector=1&theme=light&font=24). Styles in css/projector.css.

import { state } from "./state.js";

export const FONT = { min: 18, max: 40, fallback: 22 }; // label size in css px on a projector

export function labelFont(text) {
  const size = Number(text);
  return Number.isFinite(size) && text !== "" ? Math.min(FONT.max, Math.max(FONT.min, Math.round(size))) : FONT.fallback;
}

export class ProjectorMode {
  // network: the 2D view, told the label size so its rows are tall enough for them
  constructor({ network }) {
    this.network = network;
    this.toggle = document.querySelector("[data-testid=projector]");
    this.theme = document.querySelector("[data-testid=theme]");
    this.font = document.querySelector("[data-testid=font-size]");
    this.fontBox = document.querySelector("#font-control");
    Object.assign(this.font, { min: FONT.min, max: FONT.max });
    this.toggle.addEventListener("change", () => state.set({ projector: this.toggle.checked ? "1" : "" }));
    this.theme.addEventListener("change", () => state.set({ theme: this.theme.value }));
    this.font.addEventListener("input", () => state.set({ font: this.font.value }));
    state.subscribe((changed) => ["projector", "theme", "font"].some((name) => changed.has(name)) && this.apply());
    this.apply();
  }

  apply() {
    const on = state.get("projector") === "1";
    const font = labelFont(state.get("font"));
    document.documentElement.dataset.theme = state.get("theme");
    document.body.classList.toggle("projector", on);
    document.documentElement.style.setProperty("--label-font", `${font}px`);
    this.toggle.checked = on;
    this.theme.value = state.get("theme");
    this.font.value = String(font);
    this.fontBox.hidden = !on;
    this.fontBox.querySelector("output").textContent = `${font} px`;
    this.network.setLabelFont(on ? font : null);
  }
}
