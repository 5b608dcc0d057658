// What a link can restore, declared once (as tensorflow/playground's state.ts): every field is read
// from the URL when the page opens and written back on each change, so a teacher can share a link
// that opens the same view. Views read it and re-render when it changes; only this module touches
// the URL's query.

const FIELDS = {
  model: { fallback: "" },
  scale: { fallback: "map", allowed: ["map", "layer", "global"] }, // colour scale per map (as Harley), layer, network
  view: { fallback: "2d", allowed: ["2d", "3d"] },
  unit: { fallback: "" }, // the selected unit: "conv2:c,y,x" (feature map) or "dense1:i" (vector layer)
  method: { fallback: "" }, // explanation method
  class: { fallback: "" }, // explanation class ("" = the top prediction)
  lesson: { fallback: "", pattern: /^[1-9]\d?$/ }, // the lesson mode's step, from 1 ("" = no lesson)
  projector: { fallback: "", allowed: ["", "1"] }, // projector mode: the network fills the screen
  theme: { fallback: "dark", allowed: ["dark", "light"] },
  font: { fallback: "", pattern: /^\d{1,3}$/ }, // label size in px in projector mode ("" = its default)
};

const valid = (field, raw) => (!field.allowed || field.allowed.includes(raw)) && (!field.pattern || raw === field.fallback || field.pattern.test(raw));

function read(url) {
  const values = {};
  for (const [name, field] of Object.entries(FIELDS)) {
    const raw = url.searchParams.get(name);
    values[name] = raw !== null && valid(field, raw) ? raw : field.fallback;
  }
  return values;
}

class PageState {
  constructor() {
    this.values = read(new URL(location.href));
    this.listeners = [];
  }

  get(name) {
    return this.values[name];
  }

  // Change some fields; the URL follows and every listener hears which fields changed.
  set(patch) {
    const changed = Object.keys(patch).filter((name) => name in FIELDS && this.values[name] !== String(patch[name] ?? ""));
    if (!changed.length) return;
    for (const name of changed) this.values[name] = String(patch[name] ?? "");
    this.write();
    for (const listener of this.listeners) listener(new Set(changed), this.values);
  }

  subscribe(listener) {
    this.listeners.push(listener);
  }

  write() {
    const url = new URL(location.href); // keeps parameters that are not page state (?transport=http)
    for (const [name, field] of Object.entries(FIELDS)) {
      if (this.values[name] === field.fallback) url.searchParams.delete(name);
      else url.searchParams.set(name, this.values[name]);
    }
    history.replaceState(null, "", url);
  }
}

export const state = new PageState();

// A unit as the URL names it <-> {layer, channel, y, x} or {layer, index}.
export function parseUnit(text) {
  const match = /^(.+):(\d+(?:,\d+,\d+)?)$/.exec(text || "");
  if (!match) return null;
  const numbers = match[2].split(",").map(Number);
  return numbers.length === 3
    ? { layer: match[1], channel: numbers[0], y: numbers[1], x: numbers[2] }
    : { layer: match[1], index: numbers[0] };
}

export function formatUnit(unit) {
  if (!unit) return "";
  return unit.y === undefined ? `${unit.layer}:${unit.index}` : `${unit.layer}:${unit.channel},${unit.y},${unit.x}`;
}
