// VBQ reading workstation: worklist, canvas viewer, ROI editing, live score, saving.
// Plain JavaScript, no build step, no network resource but this server.
"use strict";

const LABELS = ["L1", "L2", "L3", "L4", "CSF"];
const LEVELS = ["L1", "L2", "L3", "L4"];
const CSF_LEVEL = "L3";
const REASONS = ["", "fracture", "hemangioma", "instrumentation", "schmorl_node", "lesion", "other"];
const COLOURS = { L1: "#ff6b6b", L2: "#ffd166", L3: "#06d6a0", L4: "#4dabf7", CSF: "#e599f7" };
// a ROI's "minus" list (docs/DESIGN.md, vbq-rois/1): shapes cut out of it, at most this many,
// each with exactly its shape's keys (and angle_deg on the turnable ones)
const MAX_MINUS = 256;
const MINUS_KEYS = { ellipse: ["center", "radii"], circle: ["center", "radius"],
  rectangle: ["corner", "size"], polygon: ["points"] };
const TURNABLE = ["ellipse", "rectangle"];
// how the mid-sagittal plane was found (GET /api/series, POST /api/propose: midline_source)
const PLANE_FOUND = { symmetry: "left-right symmetry", bodies: "through the vertebral bodies",
  canal: "at the canal; the bodies could not be followed", labels: "from the mask's labels" };

const S = {
  config: null, reader: null, occasion: null, studies: [], study: null, series: null,
  slice: 0, window: null, level: null, shownWL: null,
  zoom: 1, tx: 0, ty: 0, img: null, imgKey: null, cache: new Map(),
  rois: {}, clicks: {}, exclude: {}, active: "L1", tool: "place", selected: null,
  drag: null, result: null, scored: null, scoring: 0, scoreTimer: null, lastScore: null, proposals: {}, readings: [],
  worklistLoads: 0, worklistLoading: null, savedKey: null, measured: null, fitted: true,
  midline: null, midSlice: null,
};

const $ = (id) => document.getElementById(id);
const canvas = $("view");
const ctx = canvas.getContext("2d");

// ------------------------------------------------------------------ API
async function api(method, path, body) {
  const opts = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(path, opts);
  const type = resp.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await resp.json() : await resp.text();
  if (!resp.ok) {
    const err = new Error(data && data.error ? data.error : `HTTP ${resp.status}`);
    err.status = resp.status;
    throw err;
  }
  return data;
}

function status(text, ok) {
  $("status").textContent = text || "";
  $("status").className = ok ? "ok" : "";
}

const round = (x, d) => Math.round(x * 10 ** d) / 10 ** d;

// ------------------------------------------------------------------ reader and worklist
async function start() {
  S.config = await api("GET", "/api/config");
  if (S.config.reader) {
    S.reader = S.config.reader;
    $("reader").value = S.reader;
    $("reader").disabled = true;
    $("reader-start").hidden = true;
  } else {
    const saved = window.localStorage.getItem("vbq-reader");
    if (saved) { $("reader").value = saved; }
  }
  buildLabelButtons();
  bindEvents();
  resize();
  if (S.reader || $("reader").value) { await chooseReader(); } else { await loadWorklist(); }
}

async function chooseReader() {
  const name = $("reader").value.trim();
  if (!name) { status("Type your reader name first."); return; }
  // another reader: the open reading was not theirs (nor may they see it, blinded)
  if (S.reader !== null && name !== S.reader && S.study) {
    if (unsaved()) {  // a name the server refuses changes nothing: asked only for one it takes
      try { await api("GET", `/api/studies?reader=${encodeURIComponent(name)}`); } catch (e) { status(e.message); return; }
      if (!leaveOk(`Read as ${name}`)) { $("reader").value = S.reader; return; }
    }
    closeStudy();
  }
  S.reader = name;
  window.localStorage.setItem("vbq-reader", name);
  status("");  // an earlier refusal of a name is no longer the news
  await loadWorklist();
  renderResult();  // Save: there is a reader now
}

// the worklist and the reader's readings, fetched again (S.worklistLoading: the latest load)
function loadWorklist() {
  S.worklistLoading = fillWorklist();
  return S.worklistLoading;
}

async function fillWorklist() {
  // one reader throughout (a reader chosen while this loads starts a load of its own), and
  // only the latest load fills the list
  const reader = S.reader, n = ++S.worklistLoads;
  const q = reader ? `?reader=${encodeURIComponent(reader)}` : "";
  let studies, mine = null;
  try {
    studies = await api("GET", `/api/studies${q}`);
    if (reader) { mine = await api("GET", `/api/readings${q}`); }
  } catch (e) { if (n === S.worklistLoads) { status(e.message); } return; }
  if (n !== S.worklistLoads) { return; }
  S.studies = studies;
  S.readings = mine || [];
  if (reader) {
    S.occasion = mine.length ? Math.max(...mine.map((r) => r.occasion)) : null;
    $("reader-info").textContent = `reading as ${reader}` +
      (S.config.unblind ? " (unblinded)" : " (blinded)");
  }
  const body = $("worklist").querySelector("tbody");
  body.innerHTML = "";
  for (const st of S.studies) {
    const tr = document.createElement("tr");
    tr.dataset.uid = st.study_uid;
    for (const v of [st.patient_id || "(no ID)", st.study_date || "", st.description || "",
      st.read ? "\u2713" : ""]) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.appendChild(td);
    }
    // studies alike in patient, date and description are told apart by their UID
    tr.title = (st.problem ? `${st.problem}\n` : "") + `Study Instance UID ${st.study_uid}`;
    tr.addEventListener("click", () => openStudy(st.study_uid));
    body.appendChild(tr);
  }
}

async function newOccasion() {
  if (!S.reader) { status("Choose a reader first."); return; }
  // the open reading belongs to the occasion that ends: the new one starts blank
  if (S.study && !leaveOk("Start a new occasion")) { return; }
  if (S.study) { closeStudy(); }
  try {
    const r = await api("POST", "/api/occasions", { reader: S.reader });
    status(`Occasion ${r.occasion} started for ${r.reader}: earlier readings are hidden.`, true);
    await loadWorklist();
  } catch (e) { status(e.message); }
}

// back to the worklist alone: no study, series, ROIs or result on the page
function closeStudy() {
  S.study = null; S.series = null; S.img = null; S.imgKey = null;
  S.rois = {}; S.clicks = {}; S.exclude = {}; S.result = null; S.scored = null; S.selected = null;
  S.proposals = {}; S.lastScore = null; ++S.scoring; S.savedKey = null; S.measured = null;
  $("series-pane").hidden = true;
  for (const tr of $("worklist").querySelectorAll("tbody tr")) { tr.classList.remove("open"); }
  $("save-info").textContent = "";
  delete $("save-info").dataset.readingId;
  status("");
  draw();
  renderLabels();
  renderResult();
}

// the ROIs and exclusions on the page, as a save would keep them
function roiKey() {
  const doc = roiDocument();
  return JSON.stringify({ rois: doc.rois, exclude: doc.exclude || {} });
}

// ROIs on the page that no save holds
function unsaved() {
  return Object.keys(S.rois).length > 0 && S.savedKey !== null && roiKey() !== S.savedKey;
}

// whether the ROIs on the page may go: none unsaved, or the reader says so
function leaveOk(what) {
  if (!unsaved()) { return true; }
  const desc = (S.series && S.series.description) || "this series";
  return window.confirm(`The ROIs placed on ${desc} are not saved. ${what} and discard them?`);
}

// the reader's current reading of a series (their latest occasion's), or null
function currentReading(uid) {
  const theirs = (S.readings || []).filter((r) => r.reader === S.reader &&
    r.series_instance_uid === uid && r.rois);
  if (!theirs.length) { return null; }
  const occasion = Math.max(...theirs.map((r) => r.occasion));
  return theirs.filter((r) => r.occasion === occasion)
    .reduce((a, b) => (b.reading_id > a.reading_id ? b : a));
}

// a saved reading back on the page, to be looked at or edited (a new save replaces it)
function reopen(reading) {
  const doc = reading.rois;
  const given = {};
  for (const part of (reading.roi_provenance || "").split(";")) {
    const [label, how] = part.split(":");
    if (label && how) { given[label] = how; }
  }
  if (Number.isInteger(doc.slice)) { setSlice(doc.slice); }
  for (const e of doc.rois || []) {
    if (!S.rois[e.label] && applyProposal({ rois: doc, notes: [] }, e.label) && given[e.label]) {
      S.rois[e.label].provenance = given[e.label];
    }
  }
  for (const e of doc.rois || []) {  // the CSF taken with a body keeps its own provenance
    if (S.rois[e.label] && given[e.label]) { S.rois[e.label].provenance = given[e.label]; }
  }
  // the bodies' centres stand for their clicks: a CSF or body proposed again uses them
  for (const l of LEVELS) {
    const roi = S.rois[l];
    if (roi) { S.clicks[l] = [round(roi.center[0], 2), round(roi.center[1], 2), roi.slice]; }
  }
  S.exclude = { ...(doc.exclude || {}) };
  $("force").checked = Boolean(reading.forced);  // as it was saved
  S.proposals = {};
  S.selected = null;
  const vbq = Number.isFinite(reading.vbq) ? `, VBQ ${reading.vbq.toFixed(3)}` : "";
  $("save-info").textContent = `Reading ${reading.reading_id} (occasion ${reading.occasion}${vbq}) ` +
    "reopened; saving again replaces it.";
  $("save-info").dataset.readingId = String(reading.reading_id);
  S.savedKey = roiKey();  // as saved: nothing to lose until it is edited
  status(`Your saved reading ${reading.reading_id} of this series is open.`, true);
  renderLabels();
  draw();
  scheduleScore();
}

function openStudy(uid) {
  const st = S.studies.find((s) => s.study_uid === uid);
  if (!st) { return; }
  if (!leaveOk("Open this study")) { return; }
  S.study = st;
  for (const tr of $("worklist").querySelectorAll("tbody tr")) {
    tr.classList.toggle("open", tr.dataset.uid === uid);
  }
  const sel = $("series-select");
  sel.innerHTML = "";
  for (const s of st.series) {
    const o = document.createElement("option");
    o.value = s.series_uid;
    o.textContent = `${s.chosen ? "\u2605 " : ""}${s.description || "(no description)"} (${s.n_slices} slices)`;
    sel.appendChild(o);
  }
  $("series-pane").hidden = false;
  if (st.problem) { status(st.problem); }
  openSeries(st.series[0].series_uid);
}

function openSeries(uid) {
  const st = S.study;
  const s = st.series.find((x) => x.series_uid === uid);
  S.series = s;
  $("series-select").value = uid;
  $("series-reason").textContent = (s.chosen ? "Chosen: " : "Not chosen: ") + s.reason;
  const rej = $("series-rejected");
  rej.innerHTML = "";
  for (const o of st.series) {
    if (o.series_uid === uid) { continue; }
    const li = document.createElement("li");
    li.textContent = `${o.description || "(no description)"}: ${o.chosen ? "the automatic choice" : o.reason}`;
    rej.appendChild(li);
  }
  S.rois = {}; S.clicks = {}; S.exclude = {}; S.result = null; S.selected = null;
  S.measured = null;
  status(st.problem || "");  // news of the previous series is not about this one
  S.proposals = {}; S.midline = null; S.window = null; S.level = null; S.cache.clear();
  S.active = "L1";
  S.savedKey = roiKey();
  $("slice-range").max = String(s.n_slices - 1);
  S.midSlice = null;
  S.img = null; S.imgKey = null;
  $("midline-info").textContent = "";
  fit();
  // open on the detected mid-sagittal slice (the server finds it from the images, or from
  // the sac once traced); the series' middle when it cannot be found
  api("GET", `/api/series/${encodeURIComponent(uid)}`).then((info) => {
    if (S.series !== s) { return; }
    if (info.midline_slice !== null && info.midline_slice !== undefined) {
      S.midSlice = info.midline_slice;
      $("midline-info").textContent = `detected mid-sagittal slice: index ${info.midline_slice}` +
        ` (${PLANE_FOUND[info.midline_source] || "found from the images"})`;
    } else if (info.midline_reason) {
      $("midline-info").textContent = info.midline_reason;
    }
    setSlice(Number.isInteger(info.open_at) ? info.open_at : s.mid_slice);
    return S.worklistLoading;  // the readings as the server now has them (a save refreshes them)
  }).then(() => {
    if (S.series !== s) { return; }
    const saved = currentReading(uid);
    if (saved) { reopen(saved); }
  }).catch((e) => { if (S.series === s) { status(e.message); setSlice(s.mid_slice); } });
  renderLabels();
  renderResult();
  $("save-info").textContent = "";
  delete $("save-info").dataset.readingId;  // the saved reading was of the previous series
}

// ------------------------------------------------------------------ images
function sliceUrl(i) {
  let q = "";
  if (S.window !== null) { q = `?window=${round(S.window, 3)}&level=${round(S.level, 3)}`; }
  return `/api/series/${encodeURIComponent(S.series.series_uid)}/slices/${i}.png${q}`;
}

async function fetchSlice(i) {
  const key = `${S.series.series_uid}/${i}/${S.window}/${S.level}`;
  if (S.cache.has(key)) { return S.cache.get(key); }
  const p = (async () => {
    const resp = await fetch(sliceUrl(i), { credentials: "same-origin" });
    if (!resp.ok) {
      let msg = `slice ${i}: HTTP ${resp.status}`;
      try { msg = (await resp.json()).error; } catch (e) { /* keep the status */ }
      throw new Error(msg);
    }
    // the window/level the server rendered with (its automatic one when none was asked)
    const wl = [Number(resp.headers.get("X-Window")), Number(resp.headers.get("X-Level"))];
    const blob = await resp.blob();
    const img = new Image();
    img.src = URL.createObjectURL(blob);
    await img.decode();
    return { img, key, wl };
  })();
  S.cache.set(key, p);
  p.catch(() => S.cache.delete(key));
  return p;
}

async function setSlice(i) {
  if (!S.series) { return; }
  i = Math.max(0, Math.min(S.series.n_slices - 1, i));
  S.slice = i;
  $("slice-range").value = String(i);
  // as the QC figure and the command line name it: the index, then the slice's InstanceNumber
  const inst = (S.series.instance_numbers || [])[i];
  $("slice-info").textContent = `slice ${i}` + (Number.isInteger(inst) ? ` (instance ${inst})` : "") +
    `, ${i + 1} of ${S.series.n_slices}` +
    (i === S.midSlice ? " \u2013 mid-sagittal" : (i === S.series.mid_slice ? " \u2013 series middle" : ""));
  try {
    const { img, key, wl } = await fetchSlice(i);
    if (S.slice === i) { S.img = img; S.imgKey = key; S.shownWL = wl; draw(); }
    for (const j of [i - 1, i + 1]) {
      if (j >= 0 && j < S.series.n_slices) { fetchSlice(j).catch(() => {}); }
    }
  } catch (e) { status(e.message); }
  updateWLInfo();
}

function updateWLInfo() {
  $("wl-info").textContent = S.window === null ? "W/L auto" :
    `W ${round(S.window, 1)} / L ${round(S.level, 1)}`;
}

// ------------------------------------------------------------------ geometry
function resize() {
  const r = canvas.getBoundingClientRect();
  canvas.width = Math.max(1, Math.round(r.width));
  canvas.height = Math.max(1, Math.round(r.height));
  if (S.fitted) { fit(); } else { draw(); }  // a fitted image stays whole as the pane resizes
}

function fit() {
  if (!S.series) { return; }
  const z = Math.min(canvas.width / S.series.cols, canvas.height / S.series.rows);
  S.zoom = z;
  S.tx = (canvas.width - S.series.cols * z) / 2 + z / 2;
  S.ty = (canvas.height - S.series.rows * z) / 2 + z / 2;
  S.fitted = true;
  draw();
}

// pixel (row, col) -> canvas point; the centre of pixel (r, c) is at integer (r, c)
const toScreen = (r, c) => [c * S.zoom + S.tx, r * S.zoom + S.ty];
const toImage = (x, y) => [(y - S.ty) / S.zoom, (x - S.tx) / S.zoom];

function axes(roi) {
  const a = (roi.angle_deg || 0) * Math.PI / 180;
  return { row: [Math.cos(a), Math.sin(a)], col: [-Math.sin(a), Math.cos(a)] };
}

function handles(roi) {
  const { row, col } = axes(roi);
  const [r0, c0] = roi.center;
  const [ry, rx] = roi.radii;
  const extra = 14 / S.zoom;
  return {
    rowEnd: [r0 + ry * row[0], c0 + ry * row[1]],
    rowStart: [r0 - ry * row[0], c0 - ry * row[1]],
    colEnd: [r0 + rx * col[0], c0 + rx * col[1]],
    colStart: [r0 - rx * col[0], c0 - rx * col[1]],
    rotate: [r0 - (ry + extra) * row[0], c0 - (ry + extra) * row[1]],
  };
}

// the format's membership rule (docs/DESIGN.md): an ellipse holds a pixel centre when
// (u/ry)^2 + (v/rx)^2 <= 1, a rectangle (half-sizes ry, rx about its centre) when
// -ry <= u < ry and -rx <= v < rx, u and v along the shape's turned row and column axes;
// a ROI holds the centres in its own shape and in none of its cut-outs (its minus shapes)
function inside(roi, r, c) {
  return insideMain(roi, r, c) && !cutOut(roi, r, c);
}

function insideMain(roi, r, c) {
  const { row, col } = axes(roi);
  const dr = r - roi.center[0], dc = c - roi.center[1];
  const u = dr * row[0] + dc * row[1], v = dr * col[0] + dc * col[1];
  if (roi.shape === "rectangle") {
    return -roi.radii[0] <= u && u < roi.radii[0] && -roi.radii[1] <= v && v < roi.radii[1];
  }
  return (u / roi.radii[0]) ** 2 + (v / roi.radii[1]) ** 2 <= 1;
}

const finite = (v) => Array.isArray(v) && v.every((x) => typeof x === "number" && Number.isFinite(x));
const pair = (v) => finite(v) && v.length === 2;

// ------------------------------------------------------------------ cut-outs (minus shapes)
// A ROI's cut-outs are kept as the document gave them (roi.minus, its entries unchanged, in
// pixels on the ROI's slice) and sent back so; roi.whole set by the "keep whole" control
// leaves them out until restored. Moving or turning the ROI leaves them where they are.
const activeMinus = (roi) => (Array.isArray(roi.minus) && !roi.whole ? roi.minus : []);

// (cos a, sin a), exact at multiples of 90 degrees, as vbq.roi.shapes.cos_sin
function cosSin(deg) {
  const a = ((deg % 360) + 360) % 360;
  const exact = { 0: [1, 0], 90: [0, 1], 180: [-1, 0], 270: [0, -1] };
  if (exact[a]) { return exact[a]; }
  const t = a * Math.PI / 180;
  return [Math.cos(t), Math.sin(t)];
}

// why a "minus" value is not a list of shapes the page can keep, or null when it is
function minusProblem(list) {
  if (!Array.isArray(list)) { return "'minus' is not a list of shapes"; }
  if (list.length > MAX_MINUS) { return `'minus' holds more than ${MAX_MINUS} shapes`; }
  for (const [i, m] of list.entries()) {
    const at = `minus[${i}]`;
    if (!m || typeof m !== "object" || Array.isArray(m)) { return `${at} is not a shape`; }
    const keys = MINUS_KEYS[m.shape];
    if (!keys) { return `${at} has no known shape`; }
    const allowed = ["shape", ...keys, ...(TURNABLE.includes(m.shape) ? ["angle_deg"] : [])];
    const extra = Object.keys(m).find((k) => !allowed.includes(k));
    if (extra !== undefined) { return `${at} has the key "${extra}"`; }
    if (m.angle_deg !== undefined && !Number.isFinite(m.angle_deg)) { return `${at}: bad angle_deg`; }
    let ok;
    if (m.shape === "ellipse") {
      ok = pair(m.center) && pair(m.radii) && m.radii[0] > 0 && m.radii[1] > 0;
    } else if (m.shape === "circle") {
      ok = pair(m.center) && Number.isFinite(m.radius) && m.radius > 0;
    } else if (m.shape === "rectangle") {
      ok = pair(m.corner) && pair(m.size) && m.size[0] > 0 && m.size[1] > 0;
    } else {
      ok = Array.isArray(m.points) && m.points.length >= 3 && m.points.every(pair);
    }
    if (!ok) { return `${at}: its ${m.shape} is incomplete`; }
  }
  return null;
}

// is pixel centre (r, c) in a cut-out shape? The rules of vbq.roi.shapes, term for term:
// ellipses as dr^2 rx^2 + dc^2 ry^2 <= rx^2 ry^2, rectangles half-open, polygons even-odd
// with a ray along increasing column
function inMinusShape(m, r, c) {
  if (m.shape === "polygon") {
    const pts = m.points;
    let odd = false;
    for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
      const [r1, c1] = pts[j], [r2, c2] = pts[i];
      if (r1 === r2 || (r1 > r) === (r2 > r)) { continue; }
      const lhs = (c - c1) * (r2 - r1), rhs = (r - r1) * (c2 - c1);
      if (r2 > r1 ? lhs < rhs : lhs > rhs) { odd = !odd; }
    }
    return odd;
  }
  const [co, si] = cosSin(m.angle_deg || 0);
  if (m.shape === "rectangle") {
    const [h, w] = m.size;
    if (co === 1 && si === 0) {
      return m.corner[0] <= r && r < m.corner[0] + h && m.corner[1] <= c && c < m.corner[1] + w;
    }
    const dr = r - (m.corner[0] + 0.5 * h), dc = c - (m.corner[1] + 0.5 * w);
    const u = dr * co + dc * si, v = dc * co - dr * si;
    return u >= -0.5 * h && u < 0.5 * h && v >= -0.5 * w && v < 0.5 * w;
  }
  const [ry, rx] = m.shape === "circle" ? [m.radius, m.radius] : m.radii;
  const dr = r - m.center[0], dc = c - m.center[1];
  const u = dr * co + dc * si, v = dc * co - dr * si;
  return u * u * (rx * rx) + v * v * (ry * ry) <= (rx * rx) * (ry * ry);
}

function cutOut(roi, r, c) {
  return activeMinus(roi).some((m) => inMinusShape(m, r, c));
}

// a cut-out's outline as a canvas path (screen coordinates); polygons are filled even-odd
function minusPath(m) {
  ctx.beginPath();
  if (m.shape === "polygon") {
    m.points.forEach(([r, c], i) => {
      const [x, y] = toScreen(r, c);
      if (i === 0) { ctx.moveTo(x, y); } else { ctx.lineTo(x, y); }
    });
    ctx.closePath();
    return;
  }
  const [co, si] = cosSin(m.angle_deg || 0);
  if (m.shape === "rectangle") {
    const [h, w] = m.size;
    const r0 = m.corner[0] + 0.5 * h, c0 = m.corner[1] + 0.5 * w;
    const pts = [[-h, -w], [-h, w], [h, w], [h, -w]].map(([u, v]) =>
      toScreen(r0 + 0.5 * (u * co - v * si), c0 + 0.5 * (u * si + v * co)));
    ctx.moveTo(pts[0][0], pts[0][1]);
    for (const p of pts.slice(1)) { ctx.lineTo(p[0], p[1]); }
    ctx.closePath();
    return;
  }
  const [ry, rx] = m.shape === "circle" ? [m.radius, m.radius] : m.radii;
  const [x, y] = toScreen(m.center[0], m.center[1]);
  ctx.ellipse(x, y, rx * S.zoom, ry * S.zoom, -Math.atan2(si, co), 0, 2 * Math.PI);
}

const hatches = new Map();
function hatch(colour) {  // diagonal lines in a ROI's colour, as a fill pattern
  if (!hatches.has(colour)) {
    const t = document.createElement("canvas");
    t.width = 8; t.height = 8;
    const g = t.getContext("2d");
    g.strokeStyle = colour;
    g.lineWidth = 1.5;
    g.beginPath();
    g.moveTo(-2, 10); g.lineTo(10, -2);
    g.moveTo(-2, 2); g.lineTo(2, -2);
    g.moveTo(6, 10); g.lineTo(10, 6);
    g.stroke();
    hatches.set(colour, ctx.createPattern(t, "repeat"));
  }
  return hatches.get(colour);
}

// a ROI's cut-outs over it: what they take out of the ROI dimmed and hatched in its colour
// (only inside its own shape: nothing is cut from outside), each outline dashed
function drawMinus(roi, here) {
  const list = activeMinus(roi);
  if (!list.length) { return; }
  const colour = COLOURS[roi.label];
  const evenodd = (m) => (m.shape === "polygon" ? "evenodd" : "nonzero");
  ctx.save();
  outlinePath(roi);
  ctx.clip();
  ctx.globalAlpha = here ? 1 : 0.5;
  for (const m of list) {
    minusPath(m);
    ctx.fillStyle = "rgba(0, 0, 0, 0.55)";
    ctx.fill(evenodd(m));
    ctx.fillStyle = hatch(colour);
    ctx.fill(evenodd(m));
  }
  ctx.restore();
  ctx.save();
  ctx.globalAlpha = here ? 1 : 0.5;
  ctx.strokeStyle = colour;
  ctx.lineWidth = 1;
  ctx.setLineDash([3, 3]);
  for (const m of list) { minusPath(m); ctx.stroke(); }
  ctx.restore();
}

// a ROI of a vbq-rois/1 document (pixel space) -> the page's ROI: centre, half-sizes along its
// row and column axes, turn; a rectangle keeps its entry, saved unchanged until edited
function fromEntry(e, fallbackSlice) {
  const slice = e.slice !== undefined ? e.slice : fallbackSlice;
  let roi = null;
  if (e.shape === "rectangle" && finite(e.corner) && finite(e.size)) {
    roi = { shape: "rectangle", center: [e.corner[0] + e.size[0] / 2, e.corner[1] + e.size[1] / 2],
      radii: [e.size[0] / 2, e.size[1] / 2] };
  } else if ((e.shape === "ellipse" || e.shape === undefined) && finite(e.center) && finite(e.radii)) {
    roi = { shape: "ellipse", center: e.center.slice(), radii: e.radii.slice() };
  } else if (e.shape === "circle" && finite(e.center) && Number.isFinite(e.radius)) {
    roi = { shape: "ellipse", center: e.center.slice(), radii: [e.radius, e.radius] };
  }
  if (!roi || !(roi.radii[0] > 0) || !(roi.radii[1] > 0) || !Number.isInteger(slice)) { return null; }
  if (e.minus !== undefined && minusProblem(e.minus)) { return null; }
  roi.label = e.label;
  roi.angle_deg = Number.isFinite(e.angle_deg) ? e.angle_deg : 0;
  roi.slice = slice;
  if (e.label === "CSF") { roi.level = e.level || CSF_LEVEL; }
  roi.entry = JSON.parse(JSON.stringify(e));
  roi.entry.slice = slice;
  if (e.minus !== undefined) {  // kept apart from the shape: it stays when the shape is edited
    roi.minus = roi.entry.minus;
    delete roi.entry.minus;
  }
  return roi;
}

// the page's ROI -> its vbq-rois/1 entry: the proposal's own entry while it is not edited,
// with its cut-outs as given (unless kept whole)
function toEntry(roi) {
  const out = roi.entry && !roi.touched ? JSON.parse(JSON.stringify(roi.entry)) : shapeEntry(roi);
  if (Array.isArray(roi.minus) && !roi.whole) { out.minus = JSON.parse(JSON.stringify(roi.minus)); }
  return out;
}

function shapeEntry(roi) {
  const out = { label: roi.label, shape: roi.shape };
  if (roi.shape === "rectangle") {
    out.corner = [round(roi.center[0] - roi.radii[0], 3), round(roi.center[1] - roi.radii[1], 3)];
    out.size = [round(2 * roi.radii[0], 3), round(2 * roi.radii[1], 3)];
  } else {
    out.center = roi.center;
    out.radii = roi.radii;
  }
  out.slice = roi.slice;
  if (roi.angle_deg) { out.angle_deg = roi.angle_deg; }
  if (roi.label === "CSF") { out.level = roi.level || CSF_LEVEL; }
  return out;
}

function outlinePath(roi) {
  const [x, y] = toScreen(roi.center[0], roi.center[1]);
  const a = (roi.angle_deg || 0) * Math.PI / 180;
  ctx.beginPath();
  if (roi.shape === "rectangle") {
    const { row, col } = axes(roi);
    const [ry, rx] = roi.radii;
    const pts = [[-ry, -rx], [-ry, rx], [ry, rx], [ry, -rx]].map(([u, v]) =>
      toScreen(roi.center[0] + u * row[0] + v * col[0], roi.center[1] + u * row[1] + v * col[1]));
    ctx.moveTo(pts[0][0], pts[0][1]);
    for (const p of pts.slice(1)) { ctx.lineTo(p[0], p[1]); }
    ctx.closePath();
  } else {
    ctx.ellipse(x, y, roi.radii[1] * S.zoom, roi.radii[0] * S.zoom, -a, 0, 2 * Math.PI);
  }
  return [x, y];
}

// ------------------------------------------------------------------ drawing
function draw() {
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (!S.img || !S.series) { return; }
  ctx.imageSmoothingEnabled = S.zoom < 2;
  ctx.setTransform(S.zoom, 0, 0, S.zoom, S.tx, S.ty);
  ctx.drawImage(S.img, -0.5, -0.5, S.series.cols, S.series.rows);
  for (const label of LABELS) {
    const roi = S.rois[label];
    if (!roi) { continue; }
    const here = roi.slice === S.slice;
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    drawMinus(roi, here);
    const [x, y] = outlinePath(roi);
    ctx.strokeStyle = COLOURS[label];
    ctx.lineWidth = label === S.selected ? 2.5 : 1.5;
    ctx.setLineDash(here ? [] : [4, 4]);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = COLOURS[label];
    ctx.font = "bold 12px system-ui, sans-serif";
    const ex = S.exclude[label] ? " (excl.)" : "";
    ctx.fillText(label + ex + (here ? "" : ` [slice ${roi.slice}]`),
      x + roi.radii[1] * S.zoom + 4, y - 4);
    if (label === S.selected) {
      const h = handles(roi);
      for (const [name, p] of Object.entries(h)) {
        const [hx, hy] = toScreen(p[0], p[1]);
        ctx.beginPath();
        if (name === "rotate") { ctx.arc(hx, hy, 5, 0, 2 * Math.PI); } else { ctx.rect(hx - 4, hy - 4, 8, 8); }
        ctx.fillStyle = name === "rotate" ? "#fff" : COLOURS[label];
        ctx.fill();
      }
    }
    ctx.restore();
  }
  if (S.drag && S.drag.kind === "draw") {
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    const [x0, y0] = toScreen(S.drag.start[0], S.drag.start[1]);
    const [x1, y1] = toScreen(S.drag.now[0], S.drag.now[1]);
    ctx.beginPath();
    ctx.ellipse((x0 + x1) / 2, (y0 + y1) / 2, Math.abs(x1 - x0) / 2, Math.abs(y1 - y0) / 2, 0, 0, 2 * Math.PI);
    ctx.strokeStyle = COLOURS[S.active];
    ctx.setLineDash([3, 3]);
    ctx.stroke();
    ctx.setLineDash([]);
  }
}

// ------------------------------------------------------------------ labels and tools
function buildLabelButtons() {
  const box = $("labels");
  for (const label of LABELS) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.dataset.label = label;
    b.style.borderColor = COLOURS[label];
    b.addEventListener("click", () => { S.active = label; S.selected = S.rois[label] ? label : null; renderLabels(); draw(); });
    box.appendChild(b);
  }
}

function renderLabels() {
  for (const b of $("labels").querySelectorAll("button")) {
    b.classList.toggle("active", b.dataset.label === S.active);
    b.textContent = b.dataset.label + (S.rois[b.dataset.label] ? " \u2713" : "");
  }
  renderMinusControl();
}

// the "keep whole" control: shown for a selected ROI that has cut-outs
function renderMinusControl() {
  const b = $("minus-toggle");
  const roi = S.selected ? S.rois[S.selected] : null;
  const n = roi && Array.isArray(roi.minus) ? roi.minus.length : 0;
  b.hidden = n === 0;
  if (!n) { return; }
  const areas = n === 1 ? "1 cut-out" : `${n} cut-outs`;
  b.textContent = roi.whole ? `Restore ${S.selected}'s ${areas}` : `Keep ${S.selected} whole`;
  b.title = roi.whole ?
    `Leave ${S.selected}'s ${areas} (vein, Modic zones, fat islands) out of it again` :
    `Measure ${S.selected} without taking out its ${areas} (vein, Modic zones, fat islands)`;
}

function toggleMinus() {
  const label = S.selected;
  const roi = label ? S.rois[label] : null;
  if (!roi || !Array.isArray(roi.minus) || !roi.minus.length) { return; }
  roi.whole = !roi.whole;
  edited(roi);
  setRoi(label, roi);
  status(roi.whole ? `${label} is measured whole: its cut-outs are left in` :
    `${label}'s cut-outs are taken out of it again`, true);
}

function nextLabel() {
  const missing = LABELS.filter((l) => !S.rois[l]);
  S.active = missing.length ? missing[0] : S.active;
}

function setRoi(label, roi, provenance) {
  roi.label = label;
  if (!roi.entry) {  // a proposal's own numbers are shown as they are saved; edits round theirs
    roi.center = [round(roi.center[0], 2), round(roi.center[1], 2)];
    roi.radii = [Math.max(1, round(roi.radii[0], 2)), Math.max(1, round(roi.radii[1], 2))];
    roi.angle_deg = round(((roi.angle_deg || 0) % 360 + 540) % 360 - 180, 1);
  }
  if (provenance) { roi.provenance = provenance; }
  S.rois[label] = roi;
  renderLabels();
  draw();
  scheduleScore();
}

function edited(roi) {
  if (roi.provenance === "accepted_proposal") { roi.provenance = "edited_proposal"; }
}

// whether any pixel centre the ROI's shape holds lies outside the image (the server refuses it)
function beyondImage(roi) {
  const ext = Math.hypot(roi.radii[0], roi.radii[1]) + 1;
  const [r0, c0] = roi.center;
  const rows = S.series.rows, cols = S.series.cols;
  for (let r = Math.floor(r0 - ext); r <= Math.ceil(r0 + ext); r++) {
    for (let c = Math.floor(c0 - ext); c <= Math.ceil(c0 + ext); c++) {
      if ((r < 0 || c < 0 || r >= rows || c >= cols) && insideMain(roi, r, c)) { return true; }
    }
  }
  return false;
}

function insideImage(r, c) {
  return S.series && r >= -0.5 && c >= -0.5 && r <= S.series.rows - 0.5 && c <= S.series.cols - 0.5;
}

async function placeClick(r, c) {
  const label = S.active;
  if (!insideImage(r, c)) { status(`${label}: click inside the image`); return; }
  S.clicks[label] = [round(r, 2), round(c, 2), S.slice];
  const seeds = [];
  for (const l of LABELS) {
    const k = S.clicks[l];
    if (!k) { continue; }
    const seed = { label: l, point: [k[0], k[1]], slice: k[2] };
    if (l === "CSF") { seed.level = CSF_LEVEL; }
    seeds.push(seed);
  }
  const doc = { format: "vbq-seeds/1", space: "pixel", slice: S.slice, seeds };
  const series = S.series;
  status(`proposing ${label}\u2026`, true);
  try {
    // the CSF is searched for once the CSF level's body is clicked and no CSF ROI exists yet
    const findCsf = !S.rois.CSF && Boolean(S.clicks[CSF_LEVEL]);
    const p = await api("POST", "/api/propose",
      { series_uid: S.series.series_uid, seeds: doc, slice: S.slice, find_csf: findCsf });
    if (S.series !== series) { return; }  // another series was opened meanwhile
    if (!applyProposal(p, label)) { return; }
    nextLabel();
    renderLabels();
  } catch (e) {
    if (S.series !== series) { return; }
    delete S.clicks[label];
    status(e.message);
  }
}

// a /api/propose answer -> the ROI of the label clicked (and the CSF found with it), whatever
// shape the proposal gave; false when it holds none for that label
function applyProposal(p, label) {
  const main = p.rois.slice !== undefined ? p.rois.slice : S.slice;
  const found = (p.rois.rois || []).find((x) => x.label === label);
  const roi = found ? fromEntry(found, main) : null;
  if (!roi) {
    const why = found && found.minus !== undefined ? minusProblem(found.minus) : null;
    status(why ? `the ${label} ROI proposed cannot be shown (${why}); draw it by hand (Draw tool)` :
      `no ROI proposed for ${label}; draw it by hand (Draw tool)`);
    return false;
  }
  const mine = (p.notes || []).filter((n) => n.startsWith(`${label}:`) || n.includes(`(${label})`) ||
    (label === "CSF" && n.includes("CSF")) || n.startsWith("no CSF ROI proposed"));
  S.proposals[label] = { notes: mine, warnings: p.warnings };
  if (p.midline_offset_mm !== null && p.midline_offset_mm !== undefined) {
    S.midline = p.midline_offset_mm;
    showMidline(p.midline_offset_mm, p.midline_source);
  }
  if (p.midline_slice !== null && p.midline_slice !== undefined) {
    S.midSlice = p.midline_slice;
    if (p.midline_slice !== S.slice) {
      $("midline-info").textContent += ` (the mid-sagittal slice is index ${p.midline_slice})`;
    }
  }
  S.selected = label;
  setRoi(label, roi, "accepted_proposal");
  const csfEntry = (p.rois.rois || []).find((x) => x.label === "CSF");
  const csf = csfEntry && label !== "CSF" && !S.rois.CSF ? fromEntry(csfEntry, main) : null;
  if (csf) { setRoi("CSF", csf, "accepted_proposal"); }
  status(`${label} proposed` + (mine.length ? `: ${mine.join("; ")}` : ""), true);
  return true;
}

function hit(r, c) {
  const tol = 7 / S.zoom;
  if (S.selected && S.rois[S.selected] && S.rois[S.selected].slice === S.slice) {
    const h = handles(S.rois[S.selected]);
    for (const [name, p] of Object.entries(h)) {
      if (Math.hypot(p[0] - r, p[1] - c) <= tol) { return { label: S.selected, part: name }; }
    }
  }
  for (const label of LABELS) {
    const roi = S.rois[label];
    if (roi && roi.slice === S.slice && inside(roi, r, c)) { return { label, part: "body" }; }
  }
  return null;
}

// ------------------------------------------------------------------ mouse
function onDown(ev) {
  if (!S.series) { return; }
  canvas.focus();
  const rect = canvas.getBoundingClientRect();
  const x = ev.clientX - rect.left, y = ev.clientY - rect.top;
  const [r, c] = toImage(x, y);
  const base = { x, y, r, c, tx: S.tx, ty: S.ty, window: S.window, level: S.level };
  if (ev.button === 1 || ev.button === 2 || S.tool === "pan") { S.drag = { kind: "pan", ...base }; return; }
  if (ev.shiftKey || S.tool === "window") { startWindow(base); return; }
  const h = hit(r, c);
  if (h) {
    const activeBefore = S.active;
    S.selected = h.label;
    S.active = h.label;
    const roi = S.rois[h.label];
    S.drag = { kind: h.part, label: h.label, ...base, orig: JSON.parse(JSON.stringify(roi)), moved: false, activeBefore };
    renderLabels();
    draw();
    return;
  }
  if (S.tool === "draw") {
    S.drag = { kind: "draw", ...base, start: [r, c], now: [r, c] };
    return;
  }
  S.drag = { kind: "click", ...base };
}

// synchronous, so that the drag exists before the button can be released: a drag starts
// from the window/level of the image shown (the server's automatic one until one is set)
function startWindow(base) {
  const from = S.window !== null ? [S.window, S.level] : S.shownWL;
  if (!from || !(from[0] > 0) || !Number.isFinite(from[1])) { return; }
  S.drag = { kind: "window", ...base, window: from[0], level: from[1] };
}

function onMove(ev) {
  const d = S.drag;
  if (!d) { return; }
  const rect = canvas.getBoundingClientRect();
  const x = ev.clientX - rect.left, y = ev.clientY - rect.top;
  const [r, c] = toImage(x, y);
  if (d.kind === "pan") {
    S.tx = d.tx + x - d.x; S.ty = d.ty + y - d.y; S.fitted = false; draw(); return;
  }
  if (d.kind === "window") {
    S.window = Math.max(1, d.window * Math.exp((x - d.x) / 200));
    S.level = d.level - (y - d.y) * d.window / 300;
    updateWLInfo();
    clearTimeout(S.wlTimer);
    S.wlTimer = setTimeout(() => setSlice(S.slice), 60);
    return;
  }
  if (d.kind === "draw") { d.now = [r, c]; draw(); return; }
  if (d.kind === "click") { return; }
  if (!d.moved && Math.hypot(x - d.x, y - d.y) < 3) { return; }  // not yet a drag
  const roi = S.rois[d.label];
  const o = d.orig;
  d.moved = true;
  if (d.kind === "body") {
    roi.center = [round(o.center[0] + r - d.r, 2), round(o.center[1] + c - d.c, 2)];
  } else if (d.kind === "rotate") {
    const dr = r - o.center[0], dc = c - o.center[1];
    if (Math.hypot(dr, dc) > 1e-6) {
      roi.angle_deg = round(((Math.atan2(-dc, -dr) * 180 / Math.PI) % 360 + 540) % 360 - 180, 1);
    }
  } else {
    const { row, col } = axes(o);
    const dr = r - o.center[0], dc = c - o.center[1];
    if (d.kind === "rowEnd" || d.kind === "rowStart") {
      roi.radii = [Math.max(1, round(Math.abs(dr * row[0] + dc * row[1]), 2)), o.radii[1]];
    } else {
      roi.radii = [o.radii[0], Math.max(1, round(Math.abs(dr * col[0] + dc * col[1]), 2))];
    }
  }
  draw();
}

function onUp(ev) {
  const d = S.drag;
  S.drag = null;
  if (!d) { return; }
  const rect = canvas.getBoundingClientRect();
  const x = ev.clientX - rect.left, y = ev.clientY - rect.top;
  if (d.kind === "click") {
    if (Math.hypot(x - d.x, y - d.y) < 4 && S.tool === "place") { placeClick(d.r, d.c); }
    return;
  }
  if (d.kind === "body" && !d.moved && S.tool === "place" && d.label === d.activeBefore) {
    placeClick(d.r, d.c);  // a click in the active label's own ROI proposes it again from there
    return;
  }
  if (d.kind === "draw") {
    const [r0, c0] = d.start, [r1, c1] = d.now;
    if (Math.abs(r1 - r0) < 2 || Math.abs(c1 - c0) < 2) { draw(); return; }
    const roi = { label: S.active, shape: "ellipse", center: [(r0 + r1) / 2, (c0 + c1) / 2],
      radii: [Math.abs(r1 - r0) / 2, Math.abs(c1 - c0) / 2], angle_deg: 0, slice: S.slice };
    if (S.active === "CSF") { roi.level = CSF_LEVEL; }
    S.selected = S.active;
    delete S.proposals[S.active];  // drawn by hand: the proposal's notes are no longer its own
    status("");
    setRoi(S.active, roi, "hand_drawn");
    nextLabel();
    renderLabels();
    return;
  }
  if (["body", "rotate", "rowEnd", "rowStart", "colEnd", "colStart"].includes(d.kind) && d.moved) {
    const roi = S.rois[d.label];
    roi.touched = true;
    edited(roi);
    setRoi(d.label, roi);
  }
}

function onWheel(ev) {
  if (!S.series) { return; }
  ev.preventDefault();
  if (ev.ctrlKey || ev.metaKey) {
    const rect = canvas.getBoundingClientRect();
    const x = ev.clientX - rect.left, y = ev.clientY - rect.top;
    const f = Math.exp(-ev.deltaY / 300);
    S.tx = x - (x - S.tx) * f; S.ty = y - (y - S.ty) * f; S.zoom *= f; S.fitted = false;
    draw();
    return;
  }
  setSlice(S.slice + (ev.deltaY > 0 ? 1 : -1));
}

function deleteSelected() {
  const label = S.selected;
  if (!label || !S.rois[label]) { return; }
  delete S.rois[label];
  delete S.clicks[label];
  delete S.proposals[label];  // its notes went with it
  status("");
  S.selected = null;
  S.active = label;
  renderLabels();
  draw();
  scheduleScore();
}

// ------------------------------------------------------------------ score
function roiDocument() {
  const rois = [];
  for (const label of LABELS) {
    const roi = S.rois[label];
    if (!roi) { continue; }
    rois.push(toEntry(roi));
  }
  const doc = { format: "vbq-rois/1", space: "pixel", slice: S.slice, rois };
  const exclude = {};
  for (const [k, v] of Object.entries(S.exclude)) { if (v) { exclude[k] = v; } }
  if (Object.keys(exclude).length) { doc.exclude = exclude; }
  return doc;
}

function provenance() {
  const out = {};
  for (const [label, roi] of Object.entries(S.rois)) { out[label] = roi.provenance || "hand_drawn"; }
  return out;
}

// why the ROIs on the page cannot be scored yet ("" when a note says what to place), or null
function notReady() {
  const levels = LEVELS.filter((l) => S.rois[l] && !S.exclude[l]);
  const need = Math.max(1, (S.config && S.config.min_levels) || 1);
  if (!S.rois.CSF || levels.length >= need) { return S.rois.CSF && levels.length ? null : ""; }
  const placed = LEVELS.every((l) => S.rois[l]);
  const excluded = LEVELS.some((l) => S.rois[l] && S.exclude[l]);
  if (!placed && !excluded) { return ""; }
  return `${levels.length ? `only ${levels.join(", ")}` : "no level"} left after exclusions; ` +
    `the ${(S.config && S.config.protocol) || "lumbar"} protocol needs at least ${need} levels`;
}

function scheduleScore() {
  clearTimeout(S.scoreTimer);
  S.scoreTimer = setTimeout(score, 120);
}

async function score() {
  if (!S.series) { return; }
  const why = notReady();
  if (why !== null) {  // the server would refuse the score: say why here, post none
    const n = ++S.scoring;
    S.result = null; S.lastScore = why || null; S.scored = JSON.stringify(roiDocument());
    S.measured = null;
    renderResult();
    if (Object.keys(S.rois).length) { measureOnly(n); }  // each ROI's signal all the same
    return;
  }
  const n = ++S.scoring;
  const doc = roiDocument();
  const series = S.series;
  // an ROI being dragged off the image, or shrunk to nothing, is not sent: the server would
  // refuse it (400); the score resumes when the ROI is whole again
  const off = Object.values(S.rois).find((o) => !finite(o.center) || !finite(o.radii) ||
      !insideImage(o.center[0], o.center[1]) || !(o.radii[0] > 0.5) || !(o.radii[1] > 0.5) ||
      !Number.isFinite(o.angle_deg) || !Number.isInteger(o.slice) || o.slice < 0 ||
      o.slice >= series.n_slices || beyondImage(o));
  if (off) {
    S.result = null; S.measured = null;
    S.lastScore = `${off.label} reaches beyond the image: drag it back inside`;
    S.scored = JSON.stringify(doc);
    renderResult();
    return;
  }
  try {
    const res = await api("POST", "/api/score", { series_uid: series.series_uid, rois: doc,
      force: $("force").checked });
    if (n !== S.scoring || S.series !== series) { return; }
    S.result = res;
    S.lastScore = null;
    S.measured = null;
  } catch (e) {
    if (n !== S.scoring || S.series !== series) { return; }
    S.result = null; S.measured = null;
    S.lastScore = e.message;
    if (e.status === 422) { measureOnly(n); }  // refused as implausible: each ROI still shown
  }
  S.scored = JSON.stringify(doc);  // the ROI document the shown result (or error) is for
  renderResult();
}

// each ROI's signal without a score (when too few levels are left to score)
async function measureOnly(n) {
  const doc = roiDocument(), series = S.series;
  try {
    const res = await api("POST", "/api/measure", { series_uid: series.series_uid, rois: doc });
    if (n !== S.scoring || S.series !== series) { return; }
    S.measured = res.rois;
    renderResult();
  } catch (e) { /* the note above already says why there is no score */ }
}

// the distance from the mid-sagittal plane, as the score (and so its QC figure) gives it
function showMidline(offset, source) {
  $("midline-info").textContent = `${Math.abs(offset).toFixed(1)} mm from the mid-sagittal plane` +
    (PLANE_FOUND[source] ? ` (${PLANE_FOUND[source]})` : "");
}

function renderResult() {
  const res = S.result;
  const at = res && res.slice;
  if (at && Number.isFinite(at.midline_offset_mm)) {
    S.midline = at.midline_offset_mm;
    showMidline(at.midline_offset_mm, at.midline_source);
  }
  $("vbq-value").textContent = res ? `VBQ ${res.vbq.toFixed(3)}` : "VBQ \u2013";  // as the save line and the command line
  $("vbq-value").dataset.vbq = res ? String(res.vbq) : "";
  const body = $("levels").querySelector("tbody");
  body.innerHTML = "";
  for (const label of LABELS) {
    const tr = document.createElement("tr");
    const part = res ? (label === "CSF" ? res.csf : res.levels[label])
      : (S.measured && S.measured[label]) || null;
    const roi = S.rois[label];
    const cuts = roi ? activeMinus(roi).length : 0;
    const cells = [label, part && part.si !== null && part.si !== undefined ? part.si.toFixed(1) : "",
      part && part.n_pixels ? String(part.n_pixels) : "", roi ? (roi.provenance || "").replace("_", " ") +
        (cuts ? `, ${cuts} cut-out${cuts === 1 ? "" : "s"}` : "") : ""];
    for (const v of cells) { const td = document.createElement("td"); td.textContent = v; tr.appendChild(td); }
    const td = document.createElement("td");
    if (label !== "CSF") {
      const sel = document.createElement("select");
      sel.dataset.level = label;
      for (const r of REASONS) { const o = document.createElement("option"); o.value = r; o.textContent = r || "\u2013"; sel.appendChild(o); }
      sel.value = S.exclude[label] || "";
      sel.addEventListener("change", () => { S.exclude[label] = sel.value; draw(); scheduleScore(); });
      td.appendChild(sel);
    }
    tr.appendChild(td);
    body.appendChild(tr);
  }
  const cut = $("cutoffs");
  cut.innerHTML = "";
  if (res) {
    const lo = 1, hi = 6;
    const pos = (v) => `${Math.max(0, Math.min(100, (v - lo) / (hi - lo) * 100))}%`;
    for (const c of res.cutoffs) {
      const div = document.createElement("div");
      div.className = "cut";
      // each study classed VBQ at or above its cut-off as positive for its target
      div.textContent = `${c.value} ${c.target}: VBQ ${c.above ? "at or above it, positive" : "below it, negative"}` +
        ` for ${c.target} in that study (${c.source})`;
      const bar = document.createElement("div");
      bar.className = "bar";
      const t = document.createElement("span"); t.className = "tick"; t.style.left = pos(c.value);
      const m = document.createElement("span"); m.className = "me"; m.style.left = pos(res.vbq);
      bar.append(t, m);
      div.appendChild(bar);
      cut.appendChild(div);
    }
  }
  const warn = $("warnings");
  warn.innerHTML = "";
  const texts = res ? res.warnings : (S.lastScore ? [S.lastScore] : []);
  for (const w of texts) { const li = document.createElement("li"); li.textContent = w; warn.appendChild(li); }
  const notes = $("notes");
  notes.innerHTML = "";
  for (const [label, p] of Object.entries(S.proposals)) {
    for (const n of p.notes || []) { const li = document.createElement("li"); li.textContent = n; notes.appendChild(li); }
  }
  if (!res) {
    const missing = LABELS.filter((l) => !S.rois[l]);
    if (missing.length) { const li = document.createElement("li"); li.textContent = `to place: ${missing.join(", ")}`; notes.appendChild(li); }
  }
  $("save").disabled = !res || !S.reader;
}

async function save() {
  if (!S.reader) { status("Choose a reader first."); return; }
  if (!S.series || !S.result) { status("Open a study and place its ROIs first."); return; }
  const key = roiKey(), series = S.series;
  try {
    const r = await api("POST", "/api/readings", {
      reader: S.reader, series_uid: S.series.series_uid, rois: roiDocument(),
      provenance: provenance(), export: $("export").checked, force: $("force").checked,
    });
    if (S.series === series) { S.savedKey = key; }  // edits made while it saved stay unsaved
    S.result = r.result;
    renderResult();
    const files = r.files ? `; files: ${Object.values(r.files).join(", ")}` : "";
    const replaced = r.replaces ? `, replacing reading ${r.replaces}` : "";
    $("save-info").textContent = `Saved reading ${r.reading_id} (occasion ${r.occasion}, VBQ ${r.result.vbq.toFixed(3)}${replaced})${files}`;
    $("save-info").dataset.readingId = String(r.reading_id);
    status(`Reading ${r.reading_id} saved.`, true);
    const uid = S.study.study_uid;
    await loadWorklist();
    for (const tr of $("worklist").querySelectorAll("tbody tr")) { tr.classList.toggle("open", tr.dataset.uid === uid); }
  } catch (e) { status(e.message); }
}

// ------------------------------------------------------------------ events
function bindEvents() {
  $("reader-start").addEventListener("click", chooseReader);
  $("reader").addEventListener("keydown", (e) => { if (e.key === "Enter") { chooseReader(); } });
  $("new-occasion").addEventListener("click", newOccasion);
  $("series-select").addEventListener("change", (e) => {
    if (!leaveOk("Open this series")) { e.target.value = S.series.series_uid; return; }
    openSeries(e.target.value);
  });
  $("slice-range").addEventListener("input", (e) => setSlice(Number(e.target.value)));
  $("fit").addEventListener("click", fit);
  $("auto-window").addEventListener("click", () => { S.window = null; S.level = null; setSlice(S.slice); });
  $("delete-roi").addEventListener("click", deleteSelected);
  $("minus-toggle").addEventListener("click", toggleMinus);
  $("save").addEventListener("click", save);
  $("force").addEventListener("change", () => { S.scored = null; scheduleScore(); });
  for (const r of document.querySelectorAll("input[name=tool]")) {
    r.addEventListener("change", () => { S.tool = r.value; });
  }
  canvas.addEventListener("mousedown", onDown);
  window.addEventListener("mousemove", onMove);
  window.addEventListener("mouseup", onUp);
  canvas.addEventListener("wheel", onWheel, { passive: false });
  canvas.addEventListener("contextmenu", (e) => e.preventDefault());
  canvas.addEventListener("keydown", (e) => {
    if (e.key === "ArrowUp" || e.key === "PageUp") { setSlice(S.slice - 1); e.preventDefault(); }
    if (e.key === "ArrowDown" || e.key === "PageDown") { setSlice(S.slice + 1); e.preventDefault(); }
    if (e.key === "Delete" || e.key === "Backspace") { deleteSelected(); e.preventDefault(); }
    const k = Number(e.key);
    if (k >= 1 && k <= 5) { S.active = LABELS[k - 1]; renderLabels(); }
  });
  new ResizeObserver(() => { resize(); }).observe($("canvas-wrap"));
  // leaving or reloading the page with ROIs no save holds: the browser asks first
  window.addEventListener("beforeunload", (e) => { if (unsaved()) { e.preventDefault(); e.returnValue = ""; } });
}

// for scripted use and tests: where a pixel is on the canvas, and the state
window.vbq = { state: S, unsaved, toScreen, toImage, inside, roiDocument, provenance, setSlice, openStudy,
  applyProposal, cutOut };

start().catch((e) => status(e.message));
