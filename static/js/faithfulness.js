// Faithfulness views (Petsiuk et al. 2018): the deletion and insertion curves of one map, and
// methods ranked by them. Views only: they draw the answers they are given and never fetch.

const SVG = "http://www.w3.org/2000/svg";
const CURVES = [
  { name: "deletion", colour: "var(--error)", better: "lower is better" },
  { name: "insertion", colour: "var(--highlight)", better: "higher is better" },
];

function svgElement(tag, attributes) {
  const element = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  return element;
}

// The class probability against the fraction of pixels deleted or inserted, both on [0, 1], with
// both axes named and their ends marked.
export function curveChart(faithfulness, { width = 260, height = 124 } = {}) {
  const plot = { left: 22, right: width - 8, top: 18, bottom: height - 30 };
  const x = (fraction) => plot.left + fraction * (plot.right - plot.left);
  const y = (probability) => plot.bottom - probability * (plot.bottom - plot.top);
  const svg = svgElement("svg", { viewBox: `0 0 ${width} ${height}`, class: "faithfulness-chart", role: "img" });
  svg.setAttribute("aria-label", "Deletion and insertion curves: class probability against the fraction of pixels changed");
  svg.append(svgElement("rect", { x: plot.left, y: plot.top, width: plot.right - plot.left, height: plot.bottom - plot.top, class: "frame" }));
  const label = (text, axis, attributes) => {
    const node = svgElement("text", { class: "axis", "data-axis": axis, ...attributes });
    node.textContent = text;
    svg.append(node);
  };
  label("class probability", "y", { x: 0, y: 11 });
  label("1", "y", { x: plot.left - 4, y: y(1) + 4, "text-anchor": "end" });
  label("0", "y", { x: plot.left - 4, y: y(0), "text-anchor": "end" });
  label("0%", "x", { x: plot.left, y: plot.bottom + 12, "text-anchor": "start" });
  label("50%", "x", { x: x(0.5), y: plot.bottom + 12, "text-anchor": "middle" });
  label("100%", "x", { x: plot.right, y: plot.bottom + 12, "text-anchor": "end" });
  label("pixels deleted or inserted, most important first", "x", { x: x(0.5), y: height - 3, "text-anchor": "middle" });
  for (const { name, colour } of CURVES) {
    const points = faithfulness[name].curve.map((p, i) => `${x(faithfulness.fractions[i]).toFixed(1)},${y(p).toFixed(1)}`);
    svg.append(svgElement("polyline", { points: points.join(" "), fill: "none", stroke: colour, "stroke-width": 2, "data-curve": name }));
  }
  const caption = document.createElement("figcaption");
  caption.append(
    ...CURVES.map(({ name, colour, better }) => {
      const item = document.createElement("span");
      item.style.setProperty("--swatch", colour);
      item.textContent = `${name} AUC ${faithfulness[name].auc.toFixed(3)} (${better})`;
      return item;
    }),
  );
  const figure = document.createElement("figure");
  figure.className = "faithfulness";
  figure.setAttribute("data-testid", "faithfulness-chart");
  figure.append(svg, caption);
  return figure;
}

// rows: [{method, answer} | {method, error}]; ranked by deletion AUC (most faithful first).
export function rankingTable(rows) {
  const done = rows.filter((row) => row.answer && row.answer.faithfulness);
  done.sort((a, b) => a.answer.faithfulness.deletion.auc - b.answer.faithfulness.deletion.auc);
  const failed = rows.filter((row) => !(row.answer && row.answer.faithfulness));
  const table = document.createElement("table");
  table.className = "ranking";
  table.setAttribute("data-testid", "ranking");
  const head = table.createTHead().insertRow();
  for (const text of ["#", "map", "method", "deletion ↓", "insertion ↑"]) {
    const cell = document.createElement("th");
    cell.textContent = text;
    head.append(cell);
  }
  const body = table.createTBody();
  done.forEach(({ method, answer }, i) => {
    const row = body.insertRow();
    row.dataset.method = method.name;
    row.dataset.deletion = String(answer.faithfulness.deletion.auc);
    const image = new Image();
    image.src = answer.overlay;
    image.alt = `${method.title} map`;
    const title = document.createElement("span");
    title.textContent = method.title;
    if (method.warning) {
      const mark = document.createElement("abbr");
      mark.textContent = " ⚠";
      mark.title = method.warning;
      title.append(mark);
    }
    row.insertCell().textContent = String(i + 1);
    row.insertCell().append(image);
    row.insertCell().append(title);
    row.insertCell().textContent = answer.faithfulness.deletion.auc.toFixed(3);
    row.insertCell().textContent = answer.faithfulness.insertion.auc.toFixed(3);
  });
  for (const { method, error } of failed) {
    const row = body.insertRow();
    row.dataset.method = method.name;
    row.insertCell().textContent = "–";
    row.insertCell();
    row.insertCell().textContent = method.title;
    const cell = row.insertCell();
    cell.colSpan = 2;
    cell.className = "muted";
    cell.textContent = error || "no faithfulness in the answer";
  }
  return table;
}
