// Moving through a layer with the keyboard. A layer of the 2D view is one tab stop (its canvas) with
// one active unit that the keys move, as the ARIA grid pattern moves a grid's active cell, so Tab
// goes from layer to layer instead of through thousands of cells. Pure: no DOM.

const clamp = (value, lo, hi) => Math.min(hi, Math.max(lo, value));

// The unit after `key` in a layer drawn as `grid` (layout.js's Grid), or null for a key that moves
// nothing here (the page keeps its default action). Feature maps ({channel, y, x}): the arrows move a
// column or a row, Home/End to the row's ends (with Ctrl, the map's first and last cell), PageUp/
// PageDown or [ ] to the previous or next map. Vector layers ({index}): the arrows move one unit or
// one drawn row of units, Home/End to the drawn row's ends (with Ctrl, the layer's). At an edge the
// unit stays where it is.
export function nextUnit(unit, key, grid, { ctrl = false } = {}) {
  if (!grid.spatial) {
    const last = grid.units - 1;
    const i = unit.index;
    const rowStart = i - (i % grid.columns);
    const moves = {
      ArrowLeft: i - 1,
      ArrowRight: i + 1,
      ArrowUp: i - grid.columns >= 0 ? i - grid.columns : i,
      ArrowDown: i + grid.columns <= last ? i + grid.columns : i,
      Home: ctrl ? 0 : rowStart,
      End: ctrl ? last : rowStart + grid.columns - 1,
    };
    return key in moves ? { index: clamp(moves[key], 0, last) } : null;
  }
  const { channel, y, x } = unit;
  const moves = {
    ArrowLeft: { x: x - 1 },
    ArrowRight: { x: x + 1 },
    ArrowUp: { y: y - 1 },
    ArrowDown: { y: y + 1 },
    Home: ctrl ? { y: 0, x: 0 } : { x: 0 },
    End: ctrl ? { y: grid.h - 1, x: grid.w - 1 } : { x: grid.w - 1 },
  };
  if (grid.maps > 1) {
    moves.PageUp = moves["["] = { channel: channel - 1 };
    moves.PageDown = moves["]"] = { channel: channel + 1 };
  }
  if (!(key in moves)) return null;
  const next = { channel, y, x, ...moves[key] };
  return { channel: clamp(next.channel, 0, grid.maps - 1), y: clamp(next.y, 0, grid.h - 1), x: clamp(next.x, 0, grid.w - 1) };
}

// What a screen reader says for a unit: its layer, where it is and its value.
export function describeUnit(layer, unit, value, maps) {
  const where = unit.y === undefined ? `unit ${unit.index}` : `${maps > 1 ? `channel ${unit.channel}, ` : ""}row ${unit.y}, column ${unit.x}`;
  const said = value === undefined || value === null ? "" : `: ${Array.isArray(value) ? value.map((v) => v.toFixed(3)).join(", ") : value.toFixed(3)}`;
  return `${layer.name}, ${where}${said}`;
}
