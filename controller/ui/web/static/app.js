// The sdl dashboard: campaigns, live progress, approvals and control, sample lineage.
"use strict";

const view = document.getElementById("view");
const live = document.getElementById("live");
let source = null;          // EventSource of the campaign shown
let refreshTimer = null;
const firstSeen = {};       // sample id + status -> ms when the browser first showed it (latency check)
let labels = {};            // canonical SMILES -> the campaign file's label

// ---------------------------------------------------------------- helpers
const esc = s => String(s ?? "").replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
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
  return v ?? "–";
}
const badge = s => `<span class="badge ${esc(s)}">${esc(String(s).replace("_", " "))}</span>`;

async function api(path, options) {
  const response = await fetch(path, options);
  const text = await response.text();
  let body;
  try { body = JSON.parse(text); } catch { body = text; }
  if (!response.ok) throw new Error((body && body.detail) || (body && body.error) || `${response.status} ${response.statusText}`);
  return body;
}

function operatorAuth() {
  return {operator: document.getElementById("operator")?.value.trim() || "", token: document.getElementById("token")?.value || ""};
}
function remember() {
  const {operator, token} = operatorAuth();
  sessionStorage.setItem("sdl.operator", operator);
  sessionStorage.setItem("sdl.token", token);
}
function say(text, kind) {
  const el = document.getElementById("message");
  if (el) { el.textContent = text; el.className = `message ${kind || ""}`; }
}

async function post(path, body) {
  remember();
  const {operator, token} = operatorAuth();
  if (!operator) { say("Enter your name (operator) first: every decision is recorded with who made it.", "error"); return null; }
  try {
    const result = await api(path, {method: "POST", headers: {"Content-Type": "application/json", "Authorization": `Bearer ${token}`},
                                     body: JSON.stringify({...body, operator})});
    return result;
  } catch (err) { say(err.message, "error"); return null; }
}

// ---------------------------------------------------------------- routing
function route() {
  if (source) { source.close(); source = null; live.className = "live off"; live.textContent = "offline"; }
  const hash = decodeURIComponent(location.hash.slice(1) || "/");
  if (hash.startsWith("/c/")) return campaignView(hash.slice(3));
  if (hash.startsWith("/s/")) return sampleView(hash.slice(3));
  return campaignsView();
}
window.addEventListener("hashchange", route);

// ---------------------------------------------------------------- campaigns
async function campaignsView() {
  const list = await api("/api/campaigns");
  view.innerHTML = `<h1>Campaigns</h1><div class="card"><table id="campaigns"><thead><tr><th>campaign</th><th>status</th>
    <th>spent / budget</th><th>samples</th><th>awaiting approval</th><th>updated</th></tr></thead><tbody>${
    list.map(c => `<tr><td><a href="#/c/${encodeURIComponent(c.name)}">${esc(c.name)}</a></td><td>${badge(c.status)}</td>
      <td class="num">${num(c.spent, 4)} / ${num(c.budget, 4)}</td><td class="num">${c.samples}</td>
      <td class="num">${c.awaiting_approval || ""}</td><td>${when(c.updated)}</td></tr>`).join("") ||
      `<tr><td colspan="6" class="muted">No campaigns in this store yet: start one with <code>sdl run CONFIG.toml</code>.</td></tr>`
  }</tbody></table></div>`;
}

// ---------------------------------------------------------------- one campaign
async function campaignView(name) {
  const url = `/api/campaigns/${encodeURIComponent(name)}`;
  view.innerHTML = `
  <div id="head"></div>
  <div class="grid">
    <section class="card" id="control-card"><h2>Control</h2>
      <div class="controls">
        <label>operator <input id="operator" size="10" placeholder="your name"></label>
        <label>token <input id="token" type="password" size="14" placeholder="control token"></label>
        <button id="pause">Pause</button><button id="resume">Resume</button><button id="stop" class="danger">Stop</button>
      </div>
      <div id="message" class="message"></div>
      <div id="approvals"></div>
    </section>
    <section class="card"><h2>Budget by fidelity</h2><div id="budget"></div></section>
    <section class="card"><h2>Best so far vs cumulative cost</h2><div id="chart-best"></div></section>
    <section class="card"><h2>Predicted vs measured</h2><div id="chart-pred"></div></section>
    <section class="card"><h2>Device states</h2><div id="devices"></div></section>
    <section class="card"><h2>Why: what drives the property</h2><button id="explain-btn">Explain the model</button><div id="explain"></div></section>
  </div>
  <section class="card" style="margin-top:14px"><h2>Samples</h2>
    <div class="controls">filter: <select id="f-fidelity"><option value="">all fidelities</option></select>
      <select id="f-status"><option value="">all statuses</option>${["awaiting_approval", "running", "completed", "failed", "interrupted", "rejected", "cancelled"]
        .map(s => `<option>${s}</option>`).join("")}</select></div>
    <table id="samples"><thead><tr><th>#</th><th>sample</th><th>fidelity</th><th>status</th><th>objective</th><th>predicted</th>
      <th>cost</th><th>recipe</th><th>completed</th></tr></thead><tbody></tbody></table>
  </section>`;
  document.getElementById("operator").value = sessionStorage.getItem("sdl.operator") || "";
  document.getElementById("token").value = sessionStorage.getItem("sdl.token") || "";
  for (const action of ["pause", "resume", "stop"]) {
    document.getElementById(action).onclick = async () => {
      if (action === "stop" && !confirm(`Stop campaign ${name}? Running samples finish and are recorded.`)) return;
      const r = await post(`${url}/control`, {action});
      if (r) say(`${action} requested by ${r.operator}: ${r.status}`, "ok");
    };
  }
  document.getElementById("f-fidelity").onchange = () => refreshSamples(name);
  document.getElementById("f-status").onchange = () => refreshSamples(name);
  document.getElementById("explain-btn").onclick = () => loadExplanation(name);

  await refreshAll(name);
  source = new EventSource(`${url}/events`);
  source.onopen = () => { live.className = "live on"; live.textContent = "live"; };
  source.onerror = () => { live.className = "live off"; live.textContent = "reconnecting…"; };
  source.addEventListener("campaign", () => {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => refreshAll(name), 30);
  });
}

async function refreshAll(name) {
  const summary = await api(`/api/campaigns/${encodeURIComponent(name)}`);
  labels = summary.labels || {};
  renderHead(summary);
  renderBudget(summary);
  renderApprovals(summary);
  const select = document.getElementById("f-fidelity");
  if (select && select.options.length === 1) {
    for (const f of summary.fidelities || []) select.add(new Option(f.name, f.name));
  }
  await Promise.all([refreshSamples(name), refreshCharts(name, summary), refreshDevices(name)]);
}

function renderHead(s) {
  const obj = s.objective || {};
  const rec = s.recommendation && s.recommendation.recommendation;
  const pct = Math.min(100, 100 * s.spent / s.budget);
  document.getElementById("head").innerHTML = `
    <h1>${esc(s.name)} ${badge(s.status)}</h1>
    <div class="muted">${esc(s.description || "")}</div>
    <div class="grid" style="grid-template-columns: 2fr 1fr 1fr 2fr">
      <div><div class="muted">goal</div><b>${esc(obj.direction || "")} ${esc(obj.property || "")}</b> (${esc(obj.unit || "")}) at <b>${esc(s.target || "")}</b></div>
      <div><div class="muted">best at target</div><b id="best">${s.best_at_target === null || s.best_at_target === undefined ? "–" : fixed(s.best_at_target, 2) + " " + esc(obj.unit || "")}</b></div>
      <div><div class="muted">budget</div><b>${num(s.spent, 4)} / ${num(s.budget, 4)}</b><div class="bar"><div style="width:${pct}%"></div></div></div>
      <div><div class="muted">${rec ? "recommendation" : (s.stop_reason ? "stopped because" : "samples")}</div>${
        rec ? `<b>${fixed(rec.mean, 1)} ± ${fixed(rec.std, 1)} ${esc(rec.unit)}</b> (${esc(rec.fidelity)}): ${Object.entries(rec.recipe).map(([k, v]) => `${esc(k)} ${esc(qty(v))}`).join(", ")}`
            : esc(s.stop_reason || `${s.samples} recorded`)}</div>
    </div>`;
  for (const id of ["pause", "resume", "stop"]) {
    const b = document.getElementById(id);
    if (b) b.disabled = !s.control_enabled || !["running", "paused"].includes(s.status);
  }
  if (!s.control_enabled) say("Control is disabled for this campaign: no control token is configured.", "");
}

function renderBudget(s) {
  const rows = (s.fidelities || Object.keys(s.by_fidelity).map(n => ({name: n}))).map(f => {
    const b = s.by_fidelity[f.name] || {samples: 0, running: 0, cost: 0, failed: 0};
    return `<tr><td>${esc(f.name)}${f.target ? " (target)" : ""}${f.approval ? " <span class=\"badge awaiting_approval\">approval</span>" : ""}</td><td class="num">${num(f.cost, 3)}</td>
      <td class="num">${b.samples}</td><td class="num">${b.running}</td><td class="num">${b.failed}</td><td class="num">${num(b.cost, 4)}</td></tr>`;
  }).join("");
  document.getElementById("budget").innerHTML = `<table><thead><tr><th>fidelity</th><th>cost each</th><th>samples</th>
    <th>open</th><th>failed</th><th>cost spent</th></tr></thead><tbody>${rows}</tbody></table>
    <div class="muted">approval = runs at that fidelity wait for an operator's decision</div>`;
}

function renderApprovals(s) {
  const box = document.getElementById("approvals");
  if (!box) return;
  // Re-render only when the set of waiting runs changes: an operator may be typing a note.
  const key = s.awaiting.map(a => a.sample).join(",");
  if (box.dataset.key === key && box.innerHTML) return;
  box.dataset.key = key;
  if (!s.awaiting.length) { box.innerHTML = `<p class="muted">No run is waiting for approval.</p>`; return; }
  box.innerHTML = s.awaiting.map(a => `
    <div class="approval" data-sample="${esc(a.sample)}">
      <b>${esc(a.sample)}</b> at <b>${esc(a.fidelity)}</b> (cost ${num(a.cost, 3)}) waits for approval since ${when(a.requested)}
      <div>predicted ${fixed(a.predicted_mean, 1)} ± ${fixed(a.predicted_std, 1)} ${esc(a.objective_unit || "")}; ${esc(a.strategy || "")}</div>
      <div class="muted">why: ${esc(a.reason || "–")}</div>
      <div class="kv">${Object.entries(a.recipe).map(([k, v]) => `<span>${esc(k)}</span><span>${esc(qty(v))}</span>`).join("")}</div>
      ${a.acquisition_by_fidelity ? `<div class="muted">acquisition per fidelity: ${Object.entries(a.acquisition_by_fidelity).map(([k, v]) => `${esc(k)} ${num(typeof v === "object" ? (v.value ?? v.per_cost ?? NaN) : v, 3)}`).join(", ")}</div>` : ""}
      <div class="controls"><input class="note" placeholder="note (optional)" size="30">
        <button class="primary approve">Approve</button><button class="danger reject">Reject</button></div>
    </div>`).join("");
  for (const card of box.querySelectorAll(".approval")) {
    const id = card.dataset.sample;
    const decide = async decision => {
      const r = await post(`/api/campaigns/${encodeURIComponent(s.name)}/approvals/${encodeURIComponent(id)}`,
                           {decision, note: card.querySelector(".note").value || null});
      if (r) say(`${id} ${r.decision} by ${r.operator}`, "ok");
    };
    card.querySelector(".approve").onclick = () => decide("approve");
    card.querySelector(".reject").onclick = () => decide("reject");
  }
}

async function refreshSamples(name) {
  const fid = document.getElementById("f-fidelity")?.value || "", st = document.getElementById("f-status")?.value || "";
  const params = new URLSearchParams();
  if (fid) params.set("fidelity", fid);
  if (st) params.set("status", st);
  const rows = await api(`/api/campaigns/${encodeURIComponent(name)}/samples?${params}`);
  const body = document.querySelector("#samples tbody");
  if (!body) return;
  const now = Date.now();
  body.innerHTML = rows.slice().reverse().map(r => {
    const key = `${r.id}:${r.status}`;
    if (!(key in firstSeen)) firstSeen[key] = now;
    return `<tr data-sample="${esc(r.id)}" data-status="${esc(r.status)}" data-seen-ms="${firstSeen[key]}">
      <td class="num">${r.seq}</td><td><a href="#/s/${encodeURIComponent(r.id)}">${esc(r.id)}</a></td><td>${esc(r.fidelity)}</td>
      <td>${badge(r.status)}${r.approval ? ` <span class="muted">(${esc(r.approval.decision)} by ${esc(r.approval.operator)})</span>` : ""}</td>
      <td class="num">${fixed(r.objective, 2)}</td><td class="num">${r.predicted_mean === null ? "–" : fixed(r.predicted_mean, 1) + " ± " + fixed(r.predicted_std, 1)}</td>
      <td class="num">${num(r.cost, 3)}</td>
      <td>${Object.entries(r.recipe).map(([k, v]) => `${esc(k)}=${esc(qty(v))}`).join(", ")}${r.error ? `<div class="muted">${esc(r.error)}</div>` : ""}</td>
      <td>${when(r.completed)}</td></tr>`;
  }).join("");
}

async function refreshCharts(name, summary) {
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
  if (!d.sample) { box.innerHTML = `<p class="muted">No robot run yet.</p>`; return; }
  box.innerHTML = `<div>latest run: <a href="#/s/${encodeURIComponent(d.sample)}">${esc(d.sample)}</a> ${badge(d.sample_status)}
    step <b>${esc(d.step || "–")}</b>${d.exit_status ? `, exit ${esc(d.exit_status)}` : ""}</div>
    <table><thead><tr><th>device</th><th>last readings</th><th>step</th></tr></thead><tbody>${
    Object.entries(d.devices).map(([dev, keys]) => {
      const readings = Object.entries(keys).map(([k, v]) =>
        `${esc(k.startsWith(dev + "_") ? k.slice(dev.length + 1) : k)} <b>${esc(typeof v.value === "number" ? num(v.value, 4) : v.value)}</b> ${esc(v.unit === "dimensionless" ? "" : (v.unit || ""))}`);
      const stream = Object.values(keys)[0]?.stream || "";
      return `<tr><td>${esc(dev)}</td><td>${readings.join("; ")}</td><td>${esc(stream)}</td></tr>`;
    }).join("")}</tbody></table>`;
}

async function loadExplanation(name) {
  const box = document.getElementById("explain");
  box.innerHTML = `<p class="muted">Fitting the model…</p>`;
  try {
    const e = await api(`/api/campaigns/${encodeURIComponent(name)}/explain`);
    box.innerHTML = renderExplanation(e);
  } catch (err) { box.innerHTML = `<p class="message error">${esc(err.message)}</p>`; }
}

function renderExplanation(e) {
  if (!e.model) return `<p class="muted">No model yet: too few completed observations.</p>`;
  const imp = e.importance || {parameters: [], features: []};
  const entries = imp.parameters.concat(imp.features || []);
  const max = Math.max(1e-9, ...entries.map(x => x.sobol_total ?? 0));
  const bars = entries.slice().sort((a, b) => (b.sobol_total ?? 0) - (a.sobol_total ?? 0)).map(x =>
    `<div class="row"><span>${esc(x.name)}</span><div class="b" style="width:${100 * (x.sobol_total ?? 0) / max}%"></div>
     <span class="num">${num(x.sobol_total, 2)}</span></div>`).join("");
  const fc = (e.fidelity_correlation || []).map(f => `<tr><td>${esc(f.fidelity)}</td><td class="num">${num(f.cost, 3)}</td>
    <td class="num">${num(f.posterior_correlation?.mean, 2)}</td><td class="num">${num(f.mean_pearson, 2)}</td></tr>`).join("");
  let structure = "";
  const st = e.structure;
  if (st && st.by_fidelity && st.primary && st.by_fidelity[st.primary]) {
    const res = st.by_fidelity[st.primary];
    structure = `<h2 style="margin-top:10px">Structure features → property (${esc(st.primary)}, ${res.n} samples)</h2><table><thead><tr>
      <th>feature</th><th>Sobol total</th><th>Pearson r</th></tr></thead><tbody>${res.features.map(f =>
      `<tr><td>${esc(f.name)} ${f.unit ? `(${esc(f.unit)})` : ""}</td><td class="num">${num(f.sobol_total, 2)}</td><td class="num">${num(f.pearson, 2)}</td></tr>`).join("")}</tbody></table>`;
  }
  return `<div class="muted">Sobol total index of each input for the posterior mean at ${esc(e.campaign.target_fidelity)} (model ${esc(e.model.model_id)}, ${e.model.n_train} observations)</div>
    <div class="importance">${bars}</div>
    ${fc ? `<h2 style="margin-top:10px">How each fidelity tracks the target (model)</h2><table><thead><tr><th>fidelity</th><th>cost</th>
      <th>posterior corr.</th><th>Pearson of means</th></tr></thead><tbody>${fc}</tbody></table>` : ""}${structure}`;
}

// ---------------------------------------------------------------- one sample
async function sampleView(id) {
  const s = await api(`/api/samples/${encodeURIComponent(id)}`);
  const sug = s.suggestion || {};
  const kv = obj => `<div class="kv">${Object.entries(obj || {}).map(([k, v]) => `<span>${esc(k)}</span><span>${esc(qty(v))}</span>`).join("")}</div>`;
  const steps = (s.steps || []).map(st => `<li><b>${esc(st.name)}</b> on <code>${esc(st.device)}</code>
      <span class="muted">${st.start_time ? when(st.start_time) + " → " + when(st.end_time) : ""}</span>
      ${Object.keys(st.setpoints || {}).length ? `<div class="muted">set</div>${kv(st.setpoints)}` : ""}
      ${Object.keys(st.actuals || {}).length ? `<div class="muted">actual</div>${kv(st.actuals)}` : ""}
      ${Object.keys(st.lots || {}).length ? `<div class="muted">lots</div>${kv(st.lots)}` : ""}
      ${Object.keys(st.ambient || {}).length ? `<div class="muted">ambient</div>${kv(st.ambient)}` : ""}</li>`).join("");
  view.innerHTML = `<a href="#/c/${encodeURIComponent(s.campaign)}">← ${esc(s.campaign)}</a>
    <h1>${esc(s.id)} ${badge(s.status)}</h1>
    <div class="muted">fidelity ${esc(s.fidelity)}, cost ${num(s.cost, 3)}; created ${when(s.created)}, completed ${when(s.completed)}
      ${s.run_uid ? `; Bluesky run ${esc(s.run_uid)}` : ""}</div>
    ${s.error ? `<p class="message error">${esc(s.error)}</p>` : ""}
    <div class="grid">
      <section class="card"><h2>Decision</h2><div class="kv">
        <span>strategy</span><span>${esc(sug.strategy || "–")}</span><span>model</span><span>${esc(sug.model_id || "–")}</span>
        <span>predicted</span><span>${sug.predicted_mean === undefined || sug.predicted_mean === null ? "–" : fixed(sug.predicted_mean, 2) + " ± " + fixed(sug.predicted_std, 2) + " " + esc(sug.objective_unit || "")}</span>
        <span>why</span><span>${esc(sug.reason || "–")}</span>
        ${s.decision ? `<span>operator</span><span>${esc(s.decision.decision)} by ${esc(s.decision.operator)} at ${when(s.decision.time)}${s.decision.note ? ": " + esc(s.decision.note) : ""}</span>` : ""}
      </div>${(s.why || []).length ? `<ul>${s.why.map(w => `<li>${esc(w)}</li>`).join("")}</ul>` : ""}</section>
      <section class="card"><h2>Recipe</h2>${kv(s.recipe)}</section>
    </div>
    <section class="card" style="margin-top:14px"><h2>Process → Structure → Property</h2>
      <ul class="timeline" id="timeline">
        <li><b>recipe</b>${kv(s.recipe)}</li>
        ${steps}
        <li><b>structure</b>${Object.keys(s.structure || {}).length ? kv(s.structure) : `<span class="muted"> none recorded</span>`}</li>
        <li><b>properties</b>${Object.keys(s.properties || {}).length ? kv(s.properties) : `<span class="muted"> none recorded</span>`}</li>
      </ul></section>`;
}

route();
