// The sdl dashboard: campaigns, live progress, approvals and control, sample lineage.
//
// Every value from the store (campaign, fidelity, parameter and operator names, notes,
// errors) reaches the page as text: elements are built with h() below, which sets text with
// text nodes and attributes with setAttribute. No innerHTML with data, anywhere: a name like
// <img src=x onerror=...> stays a name. The server's Content-Security-Policy forbids inline
// script and inline style attributes too; styles that carry numbers go through element.style.
"use strict";

const view = document.getElementById("view");
const live = document.getElementById("live");
let stream = null;          // the event stream of the campaign shown
let refreshTimer = null;
const firstSeen = {};       // sample id + status -> ms when the browser first showed it (latency check)
let labels = {};            // canonical SMILES -> the campaign file's label
// Who is acting, kept in memory only (not sessionStorage): it dies with the tab, is never
// written to disk, and no other tab or later page of this origin can read it back.
const auth = {operator: "", token: ""};

// ---------------------------------------------------------------- helpers
// h("a", {href: "#/", class: "x", dataset: {sample: id}, style: {width: "3%"}, on: {click: f}}, "text", child, [more])
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "style") Object.assign(el.style, v);
    else if (k === "on") for (const [ev, f] of Object.entries(v)) el.addEventListener(ev, f);
    else if (k === "value") el.value = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}
function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const put = (el, ...children) => { el.replaceChildren(); return append(el, children); };
const num = (v, d = 3) => (v === null || v === undefined || Number.isNaN(v)) ? "–" : (+v).toPrecision(d).replace(/\.?0+$/, m => m.startsWith(".") ? "" : m);
const fixed = (v, d = 1) => (v === null || v === undefined) ? "–" : (+v).toFixed(d);
const when = t => t ? new Date(t * 1000).toLocaleString() : "–";
function qty(v) {
  if (v && typeof v === "object" && "value" in v) {
    const x = typeof v.value === "number" ? num(v.value, 4) : v.value;
    return `${x} ${v.unit === "dimensionless" ? "" : (v.unit || "")}`.trim();
  }
  if (typeof v === "number") return num(v, 4);
  if (typeof v === "string" && labels[v]) return labels[v];
  return String(v ?? "–");
}
const STATUS_CLASS = /^[a-z_]+$/;  // a status becomes a CSS class only if it is a plain word
const badge = s => h("span", {class: STATUS_CLASS.test(String(s)) ? `badge ${s}` : "badge"}, String(s).replace("_", " "));
const muted = text => h("p", {class: "muted"}, text);
const cell = (v, cls) => h("td", cls ? {class: cls} : {}, v);
const row = (...cells) => h("tr", {}, cells.map(c => c instanceof Node && c.tagName === "TD" ? c : cell(c)));
const table = (heads, rows) => h("table", {}, h("thead", {}, h("tr", {}, heads.map(x => h("th", {}, x)))), h("tbody", {}, rows));
const kv = obj => h("div", {class: "kv"}, Object.entries(obj || {}).map(([k, v]) => [h("span", {}, k), h("span", {}, qty(v))]));

class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function authHeaders() {
  return auth.token ? {"Authorization": `Bearer ${auth.token}`} : {};
}

async function api(path, options) {
  const opts = options || {};
  const response = await fetch(path, {...opts, headers: {...authHeaders(), ...(opts.headers || {})}});
  const text = await response.text();
  let body;
  try { body = JSON.parse(text); } catch { body = text; }
  if (!response.ok) {
    const detail = (body && body.detail) || (body && body.error) || `${response.status} ${response.statusText}`;
    throw new HttpError(response.status, typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return body;
}

function readAuth() {
  auth.operator = document.getElementById("operator")?.value.trim() || "";
  const token = document.getElementById("token");
  if (token) auth.token = token.value;
}
function say(text, kind) {
  const el = document.getElementById("message");
  if (el) { el.textContent = text; el.className = `message ${kind || ""}`; }
}

async function post(path, body) {
  readAuth();
  // With operators in the store the server knows who the token belongs to; a typed name is
  // only needed with the shared token.
  const payload = auth.operator ? {...body, operator: auth.operator} : body;
  try {
    return await api(path, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(payload)});
  } catch (err) { say(err.message, "error"); return null; }
}

function setLive(on, text) {
  live.className = on ? "live on" : "live off";
  live.textContent = text || (on ? "live" : "offline");
}

// Server-sent events read with fetch (EventSource cannot send an Authorization header, which
// `sdl serve --require-login` needs); reconnects after a second, from the last event seen.
function openStream(url, onEvent) {
  const abort = new AbortController();
  let lastId = null, stopped = false;
  (async () => {
    while (!stopped) {
      try {
        const headers = authHeaders();
        if (lastId) headers["Last-Event-ID"] = lastId;
        const response = await fetch(url, {headers, signal: abort.signal, cache: "no-store"});
        if (!response.ok) throw new HttpError(response.status, response.statusText);
        setLive(true);
        const reader = response.body.getReader(), decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const {value, done} = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, {stream: true});
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let kind = null;
            for (const line of block.split("\n")) {
              if (line.startsWith("id:")) lastId = line.slice(3).trim();
              else if (line.startsWith("event:")) kind = line.slice(6).trim();
            }
            if (kind === "campaign") onEvent();
          }
        }
      } catch (err) {
        if (stopped) return;
      }
      setLive(false, "reconnecting…");
      await new Promise(resolve => setTimeout(resolve, 1000));
    }
  })();
  return {close() { stopped = true; abort.abort(); setLive(false); }};
}

// ---------------------------------------------------------------- routing
async function route() {
  if (stream) { stream.close(); stream = null; }
  const hash = decodeURIComponent(location.hash.slice(1) || "/");
  try {
    if (hash.startsWith("/c/")) return await campaignView(hash.slice(3));
    if (hash.startsWith("/s/")) return await sampleView(hash.slice(3));
    return await campaignsView();
  } catch (err) {
    if (err.status === 401 || err.status === 403) return loginView(err.message);
    put(view, h("p", {class: "message error"}, err.message));
  }
}
window.addEventListener("hashchange", route);

function loginView(message) {
  const input = h("input", {id: "login-token", type: "password", size: 30, placeholder: "your operator token"});
  const go = () => { auth.token = input.value; route(); };
  put(view, h("h1", {}, "Sign in"),
    h("div", {class: "card"}, h("p", {}, "This dashboard needs an operator's token to read (ask an admin: ",
      h("code", {}, "sdl operators add NAME --role viewer"), ")."),
      h("div", {class: "controls"}, input, h("button", {class: "primary", id: "login", on: {click: go}}, "Sign in")),
      h("p", {class: "message error"}, message)));
  input.addEventListener("keydown", e => { if (e.key === "Enter") go(); });
}

// ---------------------------------------------------------------- campaigns
async function campaignsView() {
  const list = await api("/api/campaigns");
  const rows = list.map(c => row(
    h("a", {href: `#/c/${encodeURIComponent(c.name)}`}, c.name), badge(c.status),
    cell(`${num(c.spent, 4)} / ${num(c.budget, 4)}`, "num"), cell(c.samples, "num"),
    cell(c.awaiting_approval || "", "num"), when(c.updated)));
  if (!rows.length) rows.push(h("tr", {}, h("td", {colspan: 6, class: "muted"},
    "No campaigns in this store yet: start one with ", h("code", {}, "sdl run CONFIG.toml"), ".")));
  const t = table(["campaign", "status", "spent / budget", "samples", "awaiting approval", "updated"], rows);
  t.id = "campaigns";
  put(view, h("h1", {}, "Campaigns"), h("div", {class: "card"}, t));
}

// ---------------------------------------------------------------- one campaign
async function campaignView(name) {
  const url = `/api/campaigns/${encodeURIComponent(name)}`;
  const summary = await api(url);  // before the page is built: a 401 shows the sign-in
  const statuses = ["awaiting_approval", "running", "completed", "failed", "interrupted", "rejected", "cancelled"];
  const goals = summary.goals;  // several objectives / outcome constraints: a front instead of one best value
  const samplesTable = table(["#", "sample", "fidelity", "status", ...goalHeads(goals), "predicted", "cost", "recipe", "completed"], []);
  samplesTable.id = "samples";
  const card = (title, ...body) => h("section", {class: "card"}, h("h2", {}, title), body);
  const goalCards = goals ? [
    card(`Pareto front at ${summary.target || "the target"}`, h("div", {id: "chart-front"}), h("div", {id: "front"})),
    card("Hypervolume vs cumulative cost", h("div", {id: "chart-hv"}), h("div", {id: "hv-note", class: "muted"})),
    goals.constraints.length ? card("Outcome constraints", h("div", {id: "violations"})) : null,
  ] : [];
  put(view,
    h("div", {id: "head"}),
    h("div", {class: "grid"},
      h("section", {class: "card", id: "control-card"}, h("h2", {}, "Control"),
        h("div", {class: "controls"},
          h("label", {}, "operator ", h("input", {id: "operator", size: 10, placeholder: "your name", value: auth.operator})),
          h("label", {}, "token ", h("input", {id: "token", type: "password", size: 14, placeholder: "token", value: auth.token})),
          h("button", {id: "pause"}, "Pause"), h("button", {id: "resume"}, "Resume"), h("button", {id: "stop", class: "danger"}, "Stop")),
        h("div", {id: "message", class: "message"}),
        h("div", {id: "approvals"})),
      card("Budget by fidelity", h("div", {id: "budget"})),
      goalCards,
      card("Best so far vs cumulative cost", h("div", {id: "chart-best"})),
      card("Predicted vs measured", h("div", {id: "chart-pred"})),
      card("Device states", h("div", {id: "devices"})),
      card("Why: what drives the property", h("button", {id: "explain-btn", on: {click: () => loadExplanation(name)}}, "Explain the model"),
        h("div", {id: "explain"}))),
    h("section", {class: "card spaced"}, h("h2", {}, "Samples"),
      h("div", {class: "controls"}, "filter: ",
        h("select", {id: "f-fidelity", on: {change: () => refreshSamples(name, goals)}}, h("option", {value: ""}, "all fidelities")),
        h("select", {id: "f-status", on: {change: () => refreshSamples(name, goals)}}, h("option", {value: ""}, "all statuses"),
          statuses.map(s => h("option", {}, s)))),
      samplesTable));
  for (const action of ["pause", "resume", "stop"]) {
    document.getElementById(action).addEventListener("click", async () => {
      if (action === "stop" && !confirm(`Stop campaign ${name}? Running samples finish and are recorded.`)) return;
      const r = await post(`${url}/control`, {action});
      if (r) say(`${action} requested by ${r.operator}: ${r.status}`, "ok");
    });
  }
  await refreshAll(name, summary);
  stream = openStream(`${url}/events`, () => {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => refreshAll(name).catch(() => {}), 30);
  });
}

async function refreshAll(name, given) {
  const summary = given || await api(`/api/campaigns/${encodeURIComponent(name)}`);
  labels = summary.labels || {};
  renderHead(summary);
  renderBudget(summary);
  renderApprovals(summary);
  const select = document.getElementById("f-fidelity");
  if (select && select.options.length === 1) {
    for (const f of summary.fidelities || []) select.add(new Option(f.name, f.name));
  }
  await Promise.all([refreshSamples(name, summary.goals), refreshCharts(name), refreshDevices(name),
                     summary.goals ? refreshGoals(name) : null]);
}

// ---------------------------------------------------------------- several objectives / outcome constraints
const unitText = u => (u && u !== "dimensionless") ? ` (${u})` : "";
function goalHeads(goals) {
  if (!goals) return ["objective"];
  return [...goals.objectives.map(o => `${o.property}${unitText(o.unit)}`),
          ...(goals.constraints.length ? ["constraints"] : []), "front"];
}
function goalCells(r, goals) {
  if (!goals) return [cell(fixed(r.objective, 2), "num")];
  const values = r.outcomes || {};
  const met = r.violated && r.violated.length ? h("span", {class: "violated"}, "violates ", r.violated.join("; "))
    : r.met === true ? h("span", {class: "met"}, "met") : "–";
  return [...goals.objectives.map(o => cell(num(values[o.property], 4), "num")),
          ...(goals.constraints.length ? [cell(met, "constraint")] : []),
          cell(r.on_front ? h("b", {class: "on-front"}, "★") : "", "front")];
}

async function refreshGoals(name) {
  const g = await api(`/api/campaigns/${encodeURIComponent(name)}/goals`);
  const box = document.getElementById("chart-front");
  if (!g || !box) return;
  const axes = g.outcomes.slice(0, 2);
  const [ax, ay] = axes;
  const xOf = (values, i) => ay ? values[ax.property] : i + 1;
  const yOf = values => ay ? values[ay.property] : values[ax.property];
  const has = v => v !== null && v !== undefined;
  const label = (id, values) => `${id}: ` + g.outcomes.map(o => `${o.property} ${num(values[o.property], 4)}`).join(", ");
  const measured = g.measured.filter(m => has(yOf(m.values)) && (!ay || has(m.values[ax.property])));
  const point = (m, i) => ({x: xOf(m.values, i), y: yOf(m.values), label: label(m.sample, m.values)});
  const onFront = new Set(g.front);
  const front = g.front.map(id => measured.find(m => m.sample === id)).filter(Boolean)
    .map(m => point(m, measured.indexOf(m))).sort((a, b) => a.x - b.x);
  const series = [
    {name: "measured, constraints met", kind: "scatter", color: "#2456c7",
     points: measured.map((m, i) => [m, i]).filter(([m]) => m.feasible && !onFront.has(m.sample)).map(([m, i]) => point(m, i))},
    {name: "measured, a constraint broken", kind: "scatter", color: "#b42318", hollow: true,
     points: measured.map((m, i) => [m, i]).filter(([m]) => !m.feasible).map(([m, i]) => point(m, i))},
    {name: "measured front", kind: "line", color: "#15803d", points: front},
  ];
  if (g.predicted && ay) series.push({name: "predicted front (±1σ)", kind: "scatter", color: "#d97706", r: 4,
    points: g.predicted.filter(p => has(p.means[ax.property]) && has(p.means[ay.property])).map((p, i) => ({
      x: p.means[ax.property], y: p.means[ay.property], xerr: p.stds[ax.property] || 0, yerr: p.stds[ay.property] || 0,
      label: `predicted ${i + 1}: ` + g.outcomes.map(o => `${o.property} ${num(p.means[o.property], 4)} ± ${num(p.stds[o.property], 2)}`).join(", ")
        + (has(p.feasible) ? `; P(constraints hold) ${num(p.feasible, 2)}` : "")}))});
  const guides = [];
  for (const c of g.constraints) {
    if (ay && c.property === ay.property) guides.push({axis: "y", at: c.bound, label: c.text});
    else if (c.property === ax.property) guides.push({axis: ay ? "x" : "y", at: c.bound, label: c.text});
  }
  drawChart(box, series, {xLabel: ay ? `${ax.property}${unitText(ax.unit)}` : "sample (target fidelity)",
    yLabel: `${(ay || ax).property}${unitText((ay || ax).unit)}`, guides, title: "Pareto front",
    empty: `No completed sample at ${g.target} yet.`});
  renderFrontTables(g);
  const headline = document.getElementById("best");
  if (headline) put(headline, `${g.front.length} sample(s), hypervolume ${num(g.hypervolume_at_target, 4)}`);
  const fidelities = Object.keys(g.hypervolume || {});
  drawChart(document.getElementById("chart-hv"), fidelities.map(fid => ({
    name: fid + (fid === g.target ? " (target)" : ""), kind: "step",
    points: g.hypervolume[fid].map(q => ({x: q.cost, y: q.hypervolume, label: `${q.sample}: hypervolume ${num(q.hypervolume, 4)}`}))})),
    {xLabel: "cumulative cost (cost units)", yLabel: "hypervolume", xFromZero: true, title: "hypervolume",
     empty: "No sample has met the constraints with every objective measured yet."});
  const ref = g.objectives.map(o => `${o.property} ${num(g.reference[o.property], 4)} ${o.unit === "dimensionless" ? "" : o.unit}`.trim());
  put(document.getElementById("hv-note"), `Hypervolume of each fidelity's feasible samples above the reference point `,
    h("b", {}, ref.join(", ")), ` (from ${g.reference_source}, fixed for this plot). At ${g.target}: `,
    h("b", {id: "hv-target"}, num(g.hypervolume_at_target, 4)),
    g.truth && has(g.truth.hypervolume) ? [`; the recommended set's hidden-truth hypervolume (dry run): `,
      h("b", {id: "hv-truth"}, num(g.truth.hypervolume, 4))] : null, ".");
  const vbox = document.getElementById("violations");
  if (vbox) {
    const rows = g.violations.slice().reverse().map(v => row(h("a", {href: `#/s/${encodeURIComponent(v.sample)}`}, v.sample),
      v.fidelity, v.violated.join("; "), g.constraints.map(c => `${c.property} ${num(v.values[c.property], 4)}`).join(", ")));
    put(vbox, h("div", {class: "muted"}, g.constraints.map(c => c.text).join("; "), `: ${g.violations.length} sample(s) broke one.`),
      rows.length ? table(["sample", "fidelity", "broke", "measured"], rows) : null);
  }
}

function renderFrontTables(g) {
  const box = document.getElementById("front");
  if (!box) return;
  const byId = Object.fromEntries(g.measured.map(m => [m.sample, m]));
  const objHeads = g.objectives.map(o => `${o.property}${unitText(o.unit)}`);
  const measuredRows = g.front.map(id => row(h("a", {href: `#/s/${encodeURIComponent(id)}`}, id),
    ...g.objectives.map(o => cell(num(byId[id].values[o.property], 4), "num"))));
  const parts = [h("h2", {class: "spaced"}, `Measured front: ${g.front.length} sample(s)`),
    measuredRows.length ? table(["sample", ...objHeads], measuredRows) : muted(`No feasible sample at ${g.target} yet.`)];
  if (g.predicted) {
    const truth = (g.truth && g.truth.front) || [];
    const constrained = g.constraints.length > 0;
    const predictedRows = g.predicted.map((p, i) => row(cell(i + 1, "num"),
      ...g.objectives.map(o => cell(`${num(p.means[o.property], 4)} ± ${num(p.stds[o.property], 2)}`, "num")),
      ...(constrained ? [cell(num(p.feasible, 2), "num")] : []),
      ...(truth.length ? [cell(truth[i] ? g.objectives.map(o => num(truth[i][o.property], 4)).join(", ") : "–")] : []),
      cell(Object.entries(p.recipe || {}).map(([k, v]) => `${k}=${qty(v)}`).join(", "))));
    const t = table(["#", ...objHeads, ...(constrained ? ["P(constraints hold)"] : []), ...(truth.length ? ["hidden truth"] : []), "recipe"],
      predictedRows);
    t.id = "predicted-front";
    parts.push(h("h2", {class: "spaced"}, `Recommended (predicted) front: ${g.predicted.length} recipe(s), posterior mean ± 1σ`), t);
  }
  put(box, parts);
}

function renderHead(s) {
  const head = document.getElementById("head");
  if (!head) return;
  const obj = s.objective || {};
  const rec = s.recommendation && s.recommendation.recommendation;
  const pct = Math.min(100, 100 * s.spent / s.budget);
  const best = s.best_at_target === null || s.best_at_target === undefined ? "–" : `${fixed(s.best_at_target, 2)} ${obj.unit || ""}`;
  const recipeText = r => Object.entries(r.recipe || {}).map(([k, v]) => `${k} ${qty(v)}`).join(", ");
  const last = rec && rec.front
    ? [h("b", {}, `a set of ${rec.front.length} recipe(s)`), ` at ${rec.fidelity} (see the Pareto front); compromise: `, recipeText(rec)]
    : rec
    ? [h("b", {}, `${fixed(rec.mean, 1)} ± ${fixed(rec.std, 1)} ${rec.unit || ""}`), ` (${rec.fidelity}): `, recipeText(rec)]
    : [s.stop_reason || `${s.samples} recorded`];
  const goal = s.goals
    ? [s.goals.objectives.map((o, i) => [i ? ", " : "", h("b", {}, `${o.direction} ${o.property}`), unitText(o.unit)]),
       s.goals.constraints.length ? `; subject to ${s.goals.constraints.map(c => c.text).join("; ")}` : "", " at ", h("b", {}, s.target || "")]
    : [h("b", {}, `${obj.direction || ""} ${obj.property || ""}`), ` (${obj.unit || ""}) at `, h("b", {}, s.target || "")];
  put(head,
    h("h1", {}, s.name, " ", badge(s.status)),
    h("div", {class: "muted"}, s.description || ""),
    h("div", {class: "grid head-grid"},
      h("div", {}, h("div", {class: "muted"}, "goal"), goal),
      s.goals
        ? h("div", {}, h("div", {class: "muted"}, "measured front at target"), h("b", {id: "best"}, "…"))
        : h("div", {}, h("div", {class: "muted"}, "best at target"), h("b", {id: "best"}, best)),
      h("div", {}, h("div", {class: "muted"}, "budget"), h("b", {}, `${num(s.spent, 4)} / ${num(s.budget, 4)}`),
        h("div", {class: "bar"}, h("div", {style: {width: `${pct}%`}}))),
      h("div", {}, h("div", {class: "muted"}, rec ? "recommendation" : (s.stop_reason ? "stopped because" : "samples")), last)));
  for (const id of ["pause", "resume", "stop"]) {
    const b = document.getElementById(id);
    if (b) b.disabled = !s.control_enabled || !["running", "paused"].includes(s.status);
  }
  const operator = document.getElementById("operator");
  if (operator) operator.placeholder = s.auth === "operators" ? "(your token says who)" : "your name";
  if (!s.control_enabled) say("Control is disabled for this campaign: no control token is configured.", "");
}

function renderBudget(s) {
  const rows = (s.fidelities || Object.keys(s.by_fidelity).map(n => ({name: n}))).map(f => {
    const b = s.by_fidelity[f.name] || {samples: 0, running: 0, cost: 0, failed: 0};
    return row(cell([f.name, f.target ? " (target)" : "", f.approval ? [" ", h("span", {class: "badge awaiting_approval"}, "approval")] : ""]),
      cell(num(f.cost, 3), "num"), cell(b.samples, "num"), cell(b.running, "num"), cell(b.failed, "num"), cell(num(b.cost, 4), "num"));
  });
  put(document.getElementById("budget"), table(["fidelity", "cost each", "samples", "open", "failed", "cost spent"], rows),
    h("div", {class: "muted"}, "approval = runs at that fidelity wait for an operator's decision"));
}

function renderApprovals(s) {
  const box = document.getElementById("approvals");
  if (!box) return;
  // Re-render only when the set of waiting runs changes: an operator may be typing a note.
  const key = s.awaiting.map(a => a.sample).join(",");
  if (box.dataset.key === key && box.childNodes.length) return;
  box.dataset.key = key;
  if (!s.awaiting.length) { put(box, muted("No run is waiting for approval.")); return; }
  put(box, s.awaiting.map(a => {
    const note = h("input", {class: "note", placeholder: "note (optional)", size: 30});
    const decide = async decision => {
      const r = await post(`/api/campaigns/${encodeURIComponent(s.name)}/approvals/${encodeURIComponent(a.sample)}`,
                           {decision, note: note.value || null});
      if (r) say(`${a.sample} ${r.decision} by ${r.operator}`, "ok");
    };
    const acq = a.acquisition_by_fidelity;
    return h("div", {class: "approval", dataset: {sample: a.sample}},
      h("b", {}, a.sample), " at ", h("b", {}, a.fidelity), ` (cost ${num(a.cost, 3)}) waits for approval since ${when(a.requested)}`,
      h("div", {}, `predicted ${fixed(a.predicted_mean, 1)} ± ${fixed(a.predicted_std, 1)} ${a.objective_unit || ""}; ${a.strategy || ""}`),
      h("div", {class: "muted"}, `why: ${a.reason || "–"}`),
      kv(a.recipe),
      acq ? h("div", {class: "muted"}, "acquisition per fidelity: " + Object.entries(acq).map(([k, v]) =>
        `${k} ${num(typeof v === "object" ? (v.value ?? v.per_cost ?? NaN) : v, 3)}`).join(", ")) : null,
      h("div", {class: "controls"}, note,
        h("button", {class: "primary approve", on: {click: () => decide("approve")}}, "Approve"),
        h("button", {class: "danger reject", on: {click: () => decide("reject")}}, "Reject")));
  }));
}

async function refreshSamples(name, goals) {
  const fid = document.getElementById("f-fidelity")?.value || "", st = document.getElementById("f-status")?.value || "";
  const params = new URLSearchParams();
  if (fid) params.set("fidelity", fid);
  if (st) params.set("status", st);
  const rows = await api(`/api/campaigns/${encodeURIComponent(name)}/samples?${params}`);
  const body = document.querySelector("#samples tbody");
  if (!body) return;
  const now = Date.now();
  put(body, rows.slice().reverse().map(r => {
    const key = `${r.id}:${r.status}`;
    if (!(key in firstSeen)) firstSeen[key] = now;
    const tr = h("tr", {dataset: {sample: r.id, status: r.status, seenMs: firstSeen[key]}},
      cell(r.seq, "num"), cell(h("a", {href: `#/s/${encodeURIComponent(r.id)}`}, r.id)), cell(r.fidelity),
      cell([badge(r.status), r.approval ? [" ", h("span", {class: "muted"}, `(${r.approval.decision} by ${r.approval.operator})`)] : null]),
      goalCells(r, goals),
      cell(r.predicted_mean === null ? "–" : `${fixed(r.predicted_mean, 1)} ± ${fixed(r.predicted_std, 1)}`, "num"),
      cell(num(r.cost, 3), "num"),
      cell([Object.entries(r.recipe).map(([k, v]) => `${k}=${qty(v)}`).join(", "), r.error ? h("div", {class: "muted"}, r.error) : null]),
      cell(when(r.completed)));
    return tr;
  }));
}

async function refreshCharts(name) {
  const p = await api(`/api/campaigns/${encodeURIComponent(name)}/progress`);
  const unit = p.unit || "";
  drawChart(document.getElementById("chart-best"),
    Object.entries(p.best || {}).map(([fid, pts]) => ({name: fid + (fid === p.target ? " (target)" : ""), kind: "step",
      points: pts.map(q => ({x: q.cost, y: q.best, label: `${q.sample}: best ${q.best.toFixed(2)} ${unit}`}))})),
    {xLabel: "cumulative cost (cost units)", yLabel: `best ${p.property || ""} (${unit})`, xFromZero: true, title: "best so far"});
  const byFid = {};
  for (const q of p.predicted || []) (byFid[q.fidelity] = byFid[q.fidelity] || []).push(
    {x: q.predicted, y: q.measured, label: `${q.sample}: predicted ${q.predicted.toFixed(1)}, measured ${q.measured.toFixed(1)}`});
  drawChart(document.getElementById("chart-pred"),
    Object.entries(byFid).map(([fid, pts]) => ({name: fid, kind: "scatter", points: pts})),
    {xLabel: `predicted (${unit})`, yLabel: `measured (${unit})`, diagonal: true, title: "predicted vs measured",
     empty: "No model predictions yet (the initial design comes first)."});
}

async function refreshDevices(name) {
  const d = await api(`/api/campaigns/${encodeURIComponent(name)}/devices`);
  const box = document.getElementById("devices");
  if (!box) return;
  if (!d.sample) { put(box, muted("No robot run yet.")); return; }
  const rows = Object.entries(d.devices).map(([dev, keys]) => {
    const readings = Object.entries(keys).map(([k, v], i) => [i ? "; " : "", k.startsWith(dev + "_") ? k.slice(dev.length + 1) : k, " ",
      h("b", {}, typeof v.value === "number" ? num(v.value, 4) : String(v.value)), " ", v.unit === "dimensionless" ? "" : (v.unit || "")]);
    return row(dev, cell(readings), Object.values(keys)[0]?.stream || "");
  });
  put(box, h("div", {}, "latest run: ", h("a", {href: `#/s/${encodeURIComponent(d.sample)}`}, d.sample), " ", badge(d.sample_status),
      " step ", h("b", {}, d.step || "–"), d.exit_status ? `, exit ${d.exit_status}` : ""),
    table(["device", "last readings", "step"], rows));
}

async function loadExplanation(name) {
  const box = document.getElementById("explain");
  put(box, muted("Fitting the model…"));
  try {
    put(box, renderExplanation(await api(`/api/campaigns/${encodeURIComponent(name)}/explain`)));
  } catch (err) { put(box, h("p", {class: "message error"}, err.message)); }
}

function modelExplanation(e, target, name) {
  const imp = e.importance || {parameters: [], features: []};
  const entries = imp.parameters.concat(imp.features || []);
  const max = Math.max(1e-9, ...entries.map(x => x.sobol_total ?? 0));
  const bars = entries.slice().sort((a, b) => (b.sobol_total ?? 0) - (a.sobol_total ?? 0)).map(x =>
    h("div", {class: "row"}, h("span", {}, x.name), h("div", {class: "b", style: {width: `${100 * (x.sobol_total ?? 0) / max}%`}}),
      h("span", {class: "num"}, num(x.sobol_total, 2))));
  const fc = (e.fidelity_correlation || []).map(f => row(f.fidelity, cell(num(f.cost, 3), "num"),
    cell(num(f.posterior_correlation?.mean, 2), "num"), cell(num(f.mean_pearson, 2), "num")));
  const out = [h("div", {class: "muted"}, `Sobol total index of each input for the posterior mean${name ? ` of ${name}` : ""} at ${target} ` +
                 `(model ${e.model.model_id}, ${e.model.n_train} observations)`),
               h("div", {class: "importance"}, bars)];
  if (fc.length) out.push(h("h2", {class: "spaced"}, `How each fidelity tracks the target (${name ? `${name}, ` : ""}model)`),
                          table(["fidelity", "cost", "posterior corr.", "Pearson of means"], fc));
  return out;
}

function renderExplanation(e) {
  if (!e.model) return muted("No model yet: too few completed observations.");
  const target = e.campaign.target_fidelity;
  // Several objectives / outcome constraints: each outcome has its own GP, and its own importances.
  const out = e.outcomes
    ? e.outcomes.map(o => h("div", {class: "outcome", dataset: {property: o.property}},
        h("h2", {class: "spaced"}, o.property, unitText(o.unit), o.objective ? ` — ${o.direction}` : " — constrained outcome"),
        o.model ? modelExplanation(o, target, o.property) : muted("No model yet for this outcome.")))
    : modelExplanation(e, target, null);
  const st = e.structure;
  if (st && st.by_fidelity && st.primary && st.by_fidelity[st.primary]) {
    const res = st.by_fidelity[st.primary];
    out.push(h("h2", {class: "spaced"}, `Structure features → property (${st.primary}, ${res.n} samples)`),
      table(["feature", "Sobol total", "Pearson r"], res.features.map(f =>
        row(`${f.name}${f.unit ? ` (${f.unit})` : ""}`, cell(num(f.sobol_total, 2), "num"), cell(num(f.pearson, 2), "num")))));
  }
  return h("div", {}, out);
}

// ---------------------------------------------------------------- one sample
async function sampleView(id) {
  const s = await api(`/api/samples/${encodeURIComponent(id)}`);
  const sug = s.suggestion || {};
  const some = obj => Object.keys(obj || {}).length;
  const steps = (s.steps || []).map(st => h("li", {}, h("b", {}, st.name), " on ", h("code", {}, st.device), " ",
    h("span", {class: "muted"}, st.start_time ? `${when(st.start_time)} → ${when(st.end_time)}` : ""),
    some(st.setpoints) ? [h("div", {class: "muted"}, "set"), kv(st.setpoints)] : null,
    some(st.actuals) ? [h("div", {class: "muted"}, "actual"), kv(st.actuals)] : null,
    some(st.lots) ? [h("div", {class: "muted"}, "lots"), kv(st.lots)] : null,
    some(st.ambient) ? [h("div", {class: "muted"}, "ambient"), kv(st.ambient)] : null));
  const predicted = sug.predicted_mean === undefined || sug.predicted_mean === null ? "–"
    : `${fixed(sug.predicted_mean, 2)} ± ${fixed(sug.predicted_std, 2)} ${sug.objective_unit || ""}`;
  const pair = (k, v) => [h("span", {}, k), h("span", {}, v)];
  const d = s.decision;
  put(view,
    h("a", {href: `#/c/${encodeURIComponent(s.campaign)}`}, `← ${s.campaign}`),
    h("h1", {}, s.id, " ", badge(s.status)),
    h("div", {class: "muted"}, `fidelity ${s.fidelity}, cost ${num(s.cost, 3)}; created ${when(s.created)}, completed ${when(s.completed)}`,
      s.run_uid ? `; Bluesky run ${s.run_uid}` : ""),
    s.error ? h("p", {class: "message error"}, s.error) : null,
    h("div", {class: "grid"},
      h("section", {class: "card"}, h("h2", {}, "Decision"),
        h("div", {class: "kv"}, pair("strategy", sug.strategy || "–"), pair("model", sug.model_id || "–"),
          pair("predicted", predicted), pair("why", sug.reason || "–"),
          d ? pair("operator", `${d.decision} by ${d.operator} at ${when(d.time)}${d.note ? ": " + d.note : ""}`) : null),
        (s.why || []).length ? h("ul", {}, s.why.map(w => h("li", {}, w))) : null),
      h("section", {class: "card"}, h("h2", {}, "Recipe"), kv(s.recipe))),
    h("section", {class: "card spaced"}, h("h2", {}, "Process → Structure → Property"),
      h("ul", {class: "timeline", id: "timeline"},
        h("li", {}, h("b", {}, "recipe"), kv(s.recipe)),
        steps,
        h("li", {}, h("b", {}, "structure"), some(s.structure) ? kv(s.structure) : h("span", {class: "muted"}, " none recorded")),
        h("li", {}, h("b", {}, "properties"), some(s.properties) ? kv(s.properties) : h("span", {class: "muted"}, " none recorded")))));
}

route();
