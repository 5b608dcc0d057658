// Where each unit of a layer is drawn, and how big each layer is so the whole network fits the
// view (Harley's 2D page: layers stacked, feature maps side by side, every layer visible at once).
// Pure geometry shared by the 2D and 3D views: no DOM.

// A layer drawn as one image of cells: its feature maps side by side in rows with a one-cell gap,
// or a vector layer as rows of units. One image pixel is one cell.
export class Grid {
  constructor(shape, columns, { rgb = false } = {}) {
    this.spatial = shape.length === 3;
    if (this.spatial) {
      [this.h, this.w] = shape;
      this.maps = rgb ? 1 : shape[2];
      this.columns = Math.max(1, Math.min(columns, this.maps));
      this.rows = Math.ceil(this.maps / this.columns);
      this.width = this.columns * (this.w + 1) - 1;
      this.height = this.rows * (this.h + 1) - 1;
    } else {
      this.units = shape.reduce((a, b) => a * b, 1);
      this.columns = Math.max(1, Math.min(columns, this.units));
      this.rows = Math.ceil(this.units / this.columns);
      this.width = this.columns;
      this.height = this.rows;
    }
  }

  // The top-left cell of a unit ({channel, y, x} or {index}), in grid pixels.
  cell(unit) {
    if (!this.spatial) return { x: unit.index % this.columns, y: Math.floor(unit.index / this.columns) };
    const map = this.maps === 1 ? 0 : unit.channel;
    return { x: (map % this.columns) * (this.w + 1) + unit.x, y: Math.floor(map / this.columns) * (this.h + 1) + unit.y };
  }

  // The unit under grid pixel (px, py), or null over a gap.
  unitAt(px, py) {
    const x = Math.floor(px);
    const y = Math.floor(py);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return null;
    if (!this.spatial) {
      const index = y * this.columns + x;
      return index < this.units ? { index } : null;
    }
    const column = Math.floor(x / (this.w + 1));
    const row = Math.floor(y / (this.h + 1));
    const inX = x - column * (this.w + 1);
    const inY = y - row * (this.h + 1);
    const channel = row * this.columns + column;
    if (inX >= this.w || inY >= this.h || channel >= this.maps) return null;
    return { channel, y: inY, x: inX };
  }
}

// A dense unit is at least this many css px, so a mouse can hover it and a finger tap it (Harley
// draws dense layers as rows of big units); a long dense layer wraps into several rows.
export const MIN_DENSE_UNIT = 8;

// Cell size in css pixels: whole pixels once a cell is 2 px or more, so cells stay even.
const snap = (k) => (k >= 2 ? Math.round(k) : Math.max(0.5, Math.floor(k * 4) / 4));

// Cell size for a layer at zoom z: a map's side grows with the square root of its resolution, so a
// 3x3 map is small but readable cell by cell and the input is large.
function cellSize(slot, z) {
  if (slot.shape.length !== 3) return snap(Math.min(14, Math.max(slot.dense ? MIN_DENSE_UNIT : 2, z / 3)));
  const side = Math.max(slot.shape[0], slot.shape[1]);
  return snap(Math.min(16, (z / Math.sqrt(side)) * (slot.isInput ? 2.5 : 1)));
}

function place(slot, z, width, rowMin) {
  const minRow = Math.max(rowMin, slot.minRow || 0);
  if (slot.fixedHeight) return { height: Math.max(minRow, slot.fixedHeight) };
  const k = cellSize(slot, z);
  const spatial = slot.shape.length === 3;
  const columns = spatial ? Math.floor((width + k) / ((slot.shape[1] + 1) * k)) : Math.floor(width / k);
  const grid = new Grid(slot.shape, Math.max(1, columns), { rgb: slot.rgb });
  return { grid, cell: k, height: Math.max(minRow, grid.height * k) };
}

// The largest zoom at which every slot ({shape, rgb, isInput, dense, fixedHeight, minRow}) fits
// width x height, stacked with `gap` between rows (a row is at least `minRow` high, or the slot's
// own minRow, for its label).
export function fitLayout(slots, width, height, { gap = 6, minRow = 26 } = {}) {
  const total = (z) => slots.reduce((sum, slot) => sum + place(slot, z, width, minRow).height, gap * (slots.length - 1));
  let lo = 1;
  let hi = 400;
  for (let i = 0; i < 24; i++) {
    const mid = (lo + hi) / 2;
    if (total(mid) <= height) lo = mid;
    else hi = mid;
  }
  return slots.map((slot) => place(slot, lo, width, minRow));
}
