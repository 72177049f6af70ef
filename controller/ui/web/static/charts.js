// Small SVG charts without dependencies (the dashboard must work on a lab network with no internet).
// Every label is set with textContent or setAttribute: no innerHTML anywhere (names are data).
"use strict";

const COLORS = ["#2456c7", "#d97706", "#15803d", "#b42318", "#7c3aed", "#0e7490"];
const SVG_NS = "http://www.w3.org/2000/svg";

function svgEl(tag, attrs, text) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

function niceTicks(lo, hi, n) {
  if (!(hi > lo)) { hi = lo + 1; }
  const step0 = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(step0)));
  const step = [1, 2, 5, 10].map(m => m * mag).find(s => s >= step0);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(+v.toPrecision(10));
  return out;
}

// series: [{name, points: [{x, y, xerr, yerr, label}], kind: "step"|"line"|"scatter", color, hollow, r}]
// A scatter point's xerr / yerr (one standard deviation) draw as error bars. opts.guides:
// [{axis: "x"|"y", at, label}] draws a dashed line at a value (a constraint's bound, a reference).
function drawChart(container, series, opts) {
  const W = opts.width || 560, H = opts.height || 300, m = {l: 56, r: 12, t: 10, b: 40};
  const pts = series.flatMap(s => s.points);
  const guides = (opts.guides || []).filter(g => Number.isFinite(g.at));
  container.replaceChildren();
  if (!pts.length) {
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = opts.empty || "No data yet.";
    container.appendChild(p);
    return;
  }
  let xs = pts.flatMap(p => p.xerr ? [p.x - p.xerr, p.x + p.xerr] : [p.x]);
  let ys = pts.flatMap(p => p.yerr ? [p.y - p.yerr, p.y + p.yerr] : [p.y]);
  for (const g of guides) (g.axis === "x" ? xs : ys).push(g.at);
  if (opts.diagonal) { xs = xs.concat(ys); ys = xs; }
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)], [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const px = (x1 - x0) * 0.04 || 1, py = (y1 - y0) * 0.06 || 1;
  x0 -= px; x1 += px; y0 -= py; y1 += py;
  if (opts.xFromZero) x0 = Math.min(0, x0);
  const X = v => m.l + (v - x0) / (x1 - x0) * (W - m.l - m.r);
  const Y = v => H - m.b - (v - y0) / (y1 - y0) * (H - m.t - m.b);
  const svg = svgEl("svg", {viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "aria-label": opts.title || "chart"});
  for (const t of niceTicks(y0, y1, 5)) {
    svg.appendChild(svgEl("line", {x1: m.l, x2: W - m.r, y1: Y(t), y2: Y(t), stroke: "#e5e7eb"}));
    svg.appendChild(svgEl("text", {x: m.l - 6, y: Y(t) + 4, "text-anchor": "end"}, String(t)));
  }
  for (const t of niceTicks(x0, x1, 6)) {
    svg.appendChild(svgEl("line", {x1: X(t), x2: X(t), y1: H - m.b, y2: H - m.b + 4, stroke: "#888"}));
    svg.appendChild(svgEl("text", {x: X(t), y: H - m.b + 16, "text-anchor": "middle"}, String(t)));
  }
  svg.appendChild(svgEl("line", {x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, stroke: "#888"}));
  svg.appendChild(svgEl("text", {x: (W + m.l) / 2, y: H - 6, "text-anchor": "middle"}, opts.xLabel || ""));
  svg.appendChild(svgEl("text", {x: 12, y: (H - m.b) / 2, transform: `rotate(-90 12 ${(H - m.b) / 2})`, "text-anchor": "middle"}, opts.yLabel || ""));
  if (opts.diagonal) {
    const lo = Math.max(x0, y0), hi = Math.min(x1, y1);
    svg.appendChild(svgEl("line", {x1: X(lo), y1: Y(lo), x2: X(hi), y2: Y(hi), stroke: "#9ca3af", "stroke-dasharray": "4 3"}));
  }
  for (const g of guides) {
    const line = g.axis === "x" ? {x1: X(g.at), x2: X(g.at), y1: m.t, y2: H - m.b} : {x1: m.l, x2: W - m.r, y1: Y(g.at), y2: Y(g.at)};
    const el = svgEl("line", {...line, stroke: g.color || "#b42318", "stroke-dasharray": "5 4", class: "guide"});
    el.appendChild(svgEl("title", {}, g.label || ""));
    svg.appendChild(el);
    const tx = g.axis === "x" ? {x: X(g.at) + 3, y: m.t + 10} : {x: W - m.r - 3, y: Y(g.at) - 3, "text-anchor": "end"};
    svg.appendChild(svgEl("text", {...tx, class: "guide-label"}, g.label || ""));
  }
  series.forEach((s, i) => {
    const color = s.color || COLORS[i % COLORS.length];
    if (s.kind === "scatter") {
      for (const p of s.points) {
        if (p.xerr) svg.appendChild(svgEl("line", {x1: X(p.x - p.xerr), x2: X(p.x + p.xerr), y1: Y(p.y), y2: Y(p.y), stroke: color, "stroke-opacity": 0.6}));
        if (p.yerr) svg.appendChild(svgEl("line", {x1: X(p.x), x2: X(p.x), y1: Y(p.y - p.yerr), y2: Y(p.y + p.yerr), stroke: color, "stroke-opacity": 0.6}));
        const c = svgEl("circle", s.hollow
          ? {cx: X(p.x), cy: Y(p.y), r: s.r || 3.5, fill: "none", stroke: color, "stroke-width": 1.5, class: "point"}
          : {cx: X(p.x), cy: Y(p.y), r: s.r || 3.5, fill: color, "fill-opacity": 0.75, class: "point"});
        c.appendChild(svgEl("title", {}, p.label || `${p.x.toFixed(2)}, ${p.y.toFixed(2)}`));
        svg.appendChild(c);
      }
    } else {
      let d = "";
      s.points.forEach((p, j) => {
        if (j === 0) d += `M${X(p.x)},${Y(p.y)}`;
        else d += s.kind === "step" ? `H${X(p.x)}V${Y(p.y)}` : `L${X(p.x)},${Y(p.y)}`;
      });
      svg.appendChild(svgEl("path", {d, fill: "none", stroke: color, "stroke-width": 2}));
      for (const p of s.points) svg.appendChild(svgEl("circle", {cx: X(p.x), cy: Y(p.y), r: 2.5, fill: color}));
    }
  });
  container.appendChild(svg);
  const legend = document.createElement("div");
  legend.className = "legend";
  // Series names are data (fidelity names from the store): text nodes only, never markup.
  series.forEach((s, i) => {
    const item = document.createElement("span"), swatch = document.createElement("i");
    swatch.style.background = s.color || COLORS[i % COLORS.length];  // CSSOM: allowed by the CSP, unlike style=""
    item.append(swatch, document.createTextNode(s.name));
    legend.appendChild(item);
  });
  container.appendChild(legend);
}
