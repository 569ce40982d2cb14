// crossfold's dashboard: a hash-routed page over the HTTP API, no build step. Every request
// goes through `api`, which sends the API token (asked for once, kept in sessionStorage) as a
// bearer header, never in a URL. Live job progress reads the SSE stream with fetch, since
// EventSource cannot send headers.
"use strict";

// Errors anyone (and the browser test) can read, and the API requests that failed.
window.__errors = [];
window.__failed = [];
window.addEventListener("error", (e) => window.__errors.push(String(e.message)));
window.addEventListener("unhandledrejection", (e) => window.__errors.push(String(e.reason)));
document.addEventListener("securitypolicyviolation", (e) => window.__errors.push(`CSP: ${e.violatedDirective} ${e.blockedURI}`));

/** A problem+json answer, as an error. */
class Problem extends Error {
  constructor(status, body) {
    const fields = (body && body.errors) || [];
    super((body && body.detail) || `HTTP ${status}`);
    this.status = status;
    this.fields = fields;
  }
}

const TOKEN_KEY = "crossfold-token";

const api = {
  token: sessionStorage.getItem(TOKEN_KEY),
  async fetch(path, opts = {}) {
    const headers = new Headers(opts.headers || {});
    if (this.token) headers.set("Authorization", "Bearer " + this.token);
    const res = await fetch(path, { ...opts, headers });
    if (!res.ok && res.status !== 401) window.__failed.push(`${res.status} ${path}`);
    if (res.status === 401) {
      await askToken(this.token ? "That token was refused; try another." : null);
      return this.fetch(path, opts);
    }
    return res;
  },
  async json(path, opts) {
    const res = await this.fetch(path, opts);
    const body = await res.json().catch(() => null);
    if (!res.ok) throw new Problem(res.status, body);
    return body;
  },
  async text(path, opts) {
    const res = await this.fetch(path, opts);
    if (!res.ok) throw new Problem(res.status, await res.json().catch(() => null));
    return res.text();
  },
  post(path, body) {
    return this.json(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  },
};

let tokenWaiters = null;
/** Shows the token dialog (once for every request waiting on it). */
function askToken(message) {
  if (tokenWaiters) return tokenWaiters;
  const dialog = document.getElementById("token-dialog");
  if (message) document.getElementById("token-message").textContent = message;
  tokenWaiters = new Promise((resolve) => {
    const form = document.getElementById("token-form");
    form.addEventListener(
      "submit",
      () => {
        const input = document.getElementById("token-input");
        api.token = input.value.trim();
        sessionStorage.setItem(TOKEN_KEY, api.token);
        input.value = "";
        tokenWaiters = null;
        resolve();
      },
      { once: true },
    );
  });
  dialog.showModal();
  document.getElementById("token-input").focus();
  return tokenWaiters;
}

/** An element: `h("a", {href: "#/"}, "text", child…)`; text is never parsed as HTML. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const fmt = (v, digits = 3) =>
  v === null || v === undefined ? "" : typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(digits)) : String(v);

function table(headers, rows, attrs = {}) {
  return h(
    "table",
    attrs,
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))),
  );
}

/** Class counts as horizontal bars (widths set through the CSSOM). */
function classBars(classes) {
  const max = Math.max(1, ...classes.map((c) => c.count));
  return h(
    "div",
    { class: "bars", role: "list" },
    classes.map((c) => {
      const fill = h("span", { class: "fill", "aria-hidden": "true" });
      fill.style.width = `${Math.round((100 * c.count) / max)}px`;
      return h("div", { class: "bar", role: "listitem" }, fill, `${c.value}: ${c.count}`);
    }),
  );
}

function alertBox(id) {
  return h("p", { id, class: "alert", role: "alert" });
}

function showError(box, e) {
  if (!(e instanceof Problem)) {
    box.textContent = String(e);
    return;
  }
  const extra = e.fields.map((f) => `${f.field}: ${f.message}`).filter((l) => !e.message.includes(l));
  box.textContent = [e.message, ...extra].join("\n");
}

/** Downloads `path` (with the token header) as `filename`. */
async function download(path, filename, accept) {
  const res = await api.fetch(path, accept ? { headers: { Accept: accept } } : {});
  if (!res.ok) throw new Problem(res.status, await res.json().catch(() => null));
  const url = URL.createObjectURL(await res.blob());
  const a = h("a", { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** What the view in place set going (timers, streams): stopped when the route changes. */
let viewAbort = new AbortController();

const view = () => document.getElementById("view");

function setView(title, ...content) {
  document.title = `${title} · crossfold`;
  view().replaceChildren(h("h2", { id: "view-title" }, title), ...content.filter((c) => c != null));
}

// ---- datasets ----

async function showDatasets() {
  const error = alertBox("upload-error");
  const file = h("input", { id: "upload-file", type: "file", accept: ".csv,.ts,text/csv", required: true });
  const name = h("input", { id: "upload-name", type: "text", placeholder: "from the file name" });
  const label = h("select", { id: "upload-label", required: true }, h("option", { value: "" }, "choose a file first"));
  file.addEventListener("change", async () => {
    const f = file.files[0];
    if (!f) return;
    if (!name.value) name.value = f.name.replace(/\.(csv|ts)$/i, "");
    if (/\.ts$/i.test(f.name)) {
      // A .ts file (UEA/UCR sequences) names its own classes.
      label.replaceChildren(h("option", { value: "" }, "from the .ts file"));
      label.required = false;
      return;
    }
    label.required = true;
    const head = (await f.slice(0, 65536).text()).split(/\r?\n/)[0];
    const columns = head.split(",").map((c) => c.trim().replace(/^"|"$/g, ""));
    label.replaceChildren(...columns.map((c) => h("option", { value: c }, c)));
    label.value = columns.includes("label") ? "label" : columns[columns.length - 1];
  });
  const form = h(
    "form",
    { id: "upload-form", class: "grid" },
    h("div", {}, h("label", { for: "upload-file" }, "CSV or .ts file"), file),
    h("div", {}, h("label", { for: "upload-label" }, "Label column"), label),
    h("div", {}, h("label", { for: "upload-name" }, "Name"), name),
    h("div", {}, h("button", { id: "upload-submit", type: "submit" }, "Upload")),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    const f = file.files[0];
    const ts = /\.ts$/i.test(f.name);
    const q = new URLSearchParams(ts ? { name: name.value || f.name } : { label: label.value, name: name.value || f.name });
    try {
      const type = ts ? "text/x-ts" : "text/csv";
      const ds = await api.json(`/v1/datasets?${q}`, { method: "POST", headers: { "Content-Type": type }, body: f });
      location.hash = `#/datasets/${ds.id}`;
    } catch (err) {
      showError(error, err);
    }
  });
  const list = h("div", { id: "dataset-list" }, "Loading…");
  setView("Datasets", h("section", {}, h("h2", {}, "Upload a dataset"), form, error), h("section", {}, h("h2", {}, "Uploaded"), list));
  const page = await api.json("/v1/datasets?limit=100");
  list.replaceChildren(
    page.items.length === 0
      ? "No datasets yet."
      : table(
          ["name", "rows", "features", "label", "classes", "imbalance", ""],
          page.items.map((d) => [
            h("a", { href: `#/datasets/${d.id}` }, d.name),
            d.rows,
            d.feature_count,
            d.label,
            classBars(d.classes),
            fmt(d.imbalance_ratio, 2),
            h("a", { href: `#/jobs/new?dataset=${d.id}` }, "new job"),
          ]),
          { id: "datasets-table" },
        ),
  );
}

async function showDataset(id) {
  const d = await api.json(`/v1/datasets/${id}`);
  setView(
    `Dataset ${d.name}`,
    h(
      "section",
      {},
      h("p", {}, `${d.rows} rows, ${d.feature_count} features, label ${d.label}, ${d.kind || "table"}. `, h("a", { id: "new-job-link", href: `#/jobs/new?dataset=${d.id}` }, "Train a model on it")),
      h("h2", {}, "Classes"),
      h("div", { id: "class-bars" }, classBars(d.classes)),
    ),
    h(
      "section",
      {},
      h("h2", {}, "Columns"),
      table(
        ["name", "type", "role", "missing", "categories"],
        d.columns.map((c) => [c.name, c.type, c.role, c.missing, c.cardinality ?? ""]),
        { id: "columns-table" },
      ),
    ),
  );
}

// ---- jobs ----

const ORDERS = [
  ["created_at", "newest first"],
  ["metrics.balanced_accuracy", "best balanced accuracy"],
  ["metrics.roc_auc", "best ROC AUC"],
  ["metrics.log_loss", "lowest log loss"],
  ["name", "name"],
];

/** The jobs, filtered and sorted by the server (the filter language of `GET /v1/jobs`); the
 * filter and order live in the URL, so a view can be linked. */
async function showJobs(q) {
  const filter = h("input", { id: "job-filter", type: "search", size: 60, value: q.get("filter") || "",
    placeholder: "e.g. tags.team = 'risk' and metrics.balanced_accuracy > 0.9" });
  const order = h("select", { id: "job-order" }, ORDERS.map(([v, text]) => h("option", { value: v, selected: v === (q.get("order_by") || "created_at") }, text)));
  const apply = () => {
    const p = new URLSearchParams();
    if (filter.value.trim()) p.set("filter", filter.value.trim());
    if (order.value !== "created_at") p.set("order_by", order.value);
    location.hash = `#/jobs${p.size ? "?" + p : ""}`;
  };
  const form = h("form", { id: "job-search", onsubmit: (e) => (e.preventDefault(), apply()) },
    h("label", { for: "job-filter" }, "Filter "), filter, " ", h("label", { for: "job-order" }, "Sort "), order, " ",
    h("button", { type: "submit" }, "Apply"));
  order.addEventListener("change", apply);
  const compare = h("button", { id: "compare-selected", type: "button", disabled: true }, "Compare selected");
  const list = h("div", { id: "job-list" }, "Loading…");
  const error = alertBox("job-list-error");
  setView("Jobs", h("section", {}, form, error, compare, list));
  const picked = new Set();
  compare.addEventListener("click", () => (location.hash = `#/compare?jobs=${[...picked].join(",")}`));
  const { signal } = viewAbort;
  const query = new URLSearchParams({ limit: "100" });
  for (const k of ["filter", "order_by"]) if (q.get(k)) query.set(k, q.get(k));
  const row = (j) => {
    const box = h("input", { type: "checkbox", class: "pick", "aria-label": `compare ${j.name || j.id}`, checked: picked.has(j.id) });
    box.addEventListener("change", () => {
      box.checked ? picked.add(j.id) : picked.delete(j.id);
      compare.disabled = picked.size < 2 || picked.size > 10;
    });
    const ba = j.summary?.balanced_accuracy;
    const families = [...new Set([j.spec.model].flat().map((m) => m.kind))].join(", ");
    const tags = Object.entries(j.tags || {}).map(([k, v]) => `${k}=${v}`).join(" ");
    return [
      box,
      h("span", {}, h("a", { href: `#/jobs/${j.id}` }, j.name || j.id),
        j.remedy_of ? h("small", {}, " remedy of ", h("a", { href: `#/jobs/${j.remedy_of}` }, j.remedy_of)) : null,
        j.outer_of ? h("small", {}, " outer fold of ", h("a", { href: `#/jobs/${j.outer_of}` }, j.outer_of)) : null),
      h("span", { class: `status status-${j.status}` }, j.status),
      `${Math.round(100 * (j.progress?.fraction || 0))}%`,
      j.dataset_name || j.dataset_id,
      families,
      ba ? `${fmt(ba.mean)} ± ${fmt(ba.std)}` : "",
      tags,
      j.created_at.replace("T", " ").slice(0, 19),
    ];
  };
  // One event stream keeps the list current: the page first, then each job as it changes.
  let items = [];
  const render = () => list.replaceChildren(
    items.length === 0
      ? (q.get("filter") ? "No jobs match." : "No jobs yet.")
      : table(["", "job", "status", "progress", "dataset", "families", "balanced accuracy", "tags", "created"], items.map(row), { id: "jobs-table" }),
  );
  await new Promise((shown) => {
    const on = (name, data) => {
      if (name === "page") items = data.items;
      else if (name === "job") items = items.map((j) => (j.id === data.id ? data : j));
      render();
      shown();
    };
    // With every event stream of the server taken (429), the list is read every few seconds.
    const poll = async () => {
      on("page", await api.json(`/v1/jobs?${query}`));
      if (!signal.aborted) setTimeout(() => poll().catch(ignoreAbort), 3000);
    };
    follow(`/v1/events?${query}`, on, signal).catch((e) => {
      if (e.name === "AbortError") return shown();
      if (e.status === 429) return poll().catch((p) => (showError(error, p), shown()));
      list.replaceChildren();
      showError(error, e);
      shown();
    });
  });
}

/** An SVG element with its attributes (and text), for the charts drawn in the page. */
function svgEl(tag, attrs, text) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// The charts' line colours, in order (matplotlib's tab10, as the server's plots).
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

/** Lines of [x, y] points as an SVG, one colour each, the legend beside (not over) the plot. */
function linesSvg(series, ylabel) {
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return h("p", {}, "No curves yet.");
  const [w, ht, pad] = [520, 260, 40];
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const sx = (x) => pad + ((x - x0) / (x1 - x0 || 1)) * (w - 2 * pad);
  const sy = (y) => ht - pad - ((y - y0) / (y1 - y0 || 1)) * (ht - 2 * pad);
  const svg = svgEl("svg", { width: w + 220, height: ht, role: "img", "aria-label": ylabel, class: "compare-curves" });
  svg.append(svgEl("text", { x: 4, y: 14, "font-size": 12 }, `${ylabel} (${fmt(y0)} to ${fmt(y1)}), by epoch`));
  series.forEach((s, i) => {
    const d = s.points.map((p, k) => `${k ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join("");
    svg.append(svgEl("path", { d, fill: "none", stroke: COLOURS[i % COLOURS.length], "stroke-width": 2 }));
    svg.append(svgEl("text", { x: w + 10, y: pad + 16 * i, fill: COLOURS[i % COLOURS.length], "font-size": 12, class: "legend" }, s.name));
  });
  return svg;
}

/** Parallel coordinates: one vertical axis per differing spec field and per score, each job
 * a line through its values (numbers placed by value, anything else by its distinct values). */
function parallelSvg(axes, names) {
  // 190 px between axes keeps dotted paths (optimizer.learning_rate) apart; the legend sets the height.
  const [top, bottom, left] = [34, 30, 100];
  const [w, ht] = [Math.max(400, 2 * left + 190 * (axes.length - 1)), Math.max(260, top + 16 * names.length + 10)];
  const gap = (w - 2 * left) / Math.max(1, axes.length - 1);
  const svg = svgEl("svg", { width: w + 200, height: ht, role: "img", "aria-label": "configuration against score", class: "compare-parallel" });
  const place = axes.map((a, i) => {
    const x = left + gap * i;
    const numeric = a.values.every((v) => typeof v === "number");
    const distinct = [...new Set(a.values.map((v) => JSON.stringify(v)))];
    const nums = numeric ? a.values : [];
    const [lo, hi] = numeric ? [Math.min(...nums), Math.max(...nums)] : [0, distinct.length - 1];
    // Positive values over two decades or more (a log-uniform learning rate) on a log scale.
    const f = numeric && lo > 0 && hi / lo >= 100 ? Math.log10 : (v) => v;
    const y = (v) => {
      const t = numeric ? f(v) : distinct.indexOf(JSON.stringify(v));
      const [a, b] = numeric ? [f(lo), f(hi)] : [lo, hi];
      return ht - bottom - ((t - a) / (b - a || 1)) * (ht - top - bottom);
    };
    svg.append(svgEl("line", { x1: x, x2: x, y1: top, y2: ht - bottom, stroke: "#999" }));
    svg.append(svgEl("text", { x, y: top - 18, "text-anchor": "middle", "font-size": 12, class: "axis-name" }, a.name));
    const ticks = numeric ? [...new Set([lo, hi])] : a.values.filter((v, k) => a.values.findIndex((u) => JSON.stringify(u) === JSON.stringify(v)) === k);
    const label = (v) => (typeof v !== "number" ? JSON.stringify(v) : Math.abs(v) < 0.01 && v !== 0 ? v.toPrecision(2) : fmt(v));
    for (const v of ticks) svg.append(svgEl("text", { x: x - 6, y: y(v) + 4, "text-anchor": "end", "font-size": 11, class: "tick" }, label(v)));
    return { x, y };
  });
  names.forEach((name, j) => {
    const points = place.map((p, i) => `${p.x.toFixed(1)},${p.y(axes[i].values[j]).toFixed(1)}`).join(" ");
    svg.append(svgEl("polyline", { points, fill: "none", stroke: COLOURS[j % COLOURS.length], "stroke-width": 2 }));
    svg.append(svgEl("text", { x: w - left + 40, y: top + 16 * j, fill: COLOURS[j % COLOURS.length], "font-size": 12, class: "legend" }, name));
  });
  return svg;
}

/** Jobs side by side: what differs in their specs, their scores with the fold spread, and their
 * held-out loss curves overlaid. */
async function showCompare(q) {
  const ids = (q.get("jobs") || "").split(",").filter(Boolean);
  const c = await api.json(`/v1/compare?jobs=${ids.map(encodeURIComponent).join(",")}`);
  const names = c.jobs.map((j) => j.name || j.id);
  const head = ["", ...c.jobs.map((j, i) => h("a", { href: `#/jobs/${j.id}` }, names[i]))];
  const diffs = table(["field", ...names], c.differences.map((d) => [d.field, ...d.values.map((v) => JSON.stringify(v))]), { id: "compare-differences" });
  const metrics = ["balanced_accuracy", "roc_auc", "f1_macro", "accuracy", "log_loss"].filter((m) => c.summaries[m]);
  const scores = table(head, metrics.map((m) => [m, ...c.summaries[m].map((s) => (s ? `${fmt(s.mean)} ± ${fmt(s.std)}` : ""))]), { id: "compare-scores" });
  const curves = linesSvg(c.curves.map((cv, i) => ({ name: names[i], points: cv.holdout_loss.length ? cv.holdout_loss : cv.train_loss })), "held-out loss");
  const score = metrics.find((m) => c.summaries[m].every(Boolean));
  const axes = [...c.differences.map((d) => ({ name: d.field, values: d.values })),
    ...(score ? [{ name: score, values: c.summaries[score].map((s) => (s ? s.mean : 0)) }] : [])];
  const parallel = axes.length > 1 ? parallelSvg(axes, names) : null;
  setView(`Comparing ${c.jobs.length} jobs`,
    h("section", {}, h("h2", {}, "Scores (mean ± std over folds)"), scores),
    parallel ? h("section", { id: "compare-parallel" }, h("h2", {}, `Configuration against ${score}`), parallel) : null,
    h("section", {}, h("h2", {}, "Where the specs differ"), c.differences.length ? diffs : "The specs are the same."),
    h("section", { id: "compare-plot" }, h("h2", {}, "Held-out loss, mean over folds"), curves));
}

const STRATEGIES = ["none", "class_weight", "oversample", "undersample", "smote", "nearmiss", "easy_ensemble", "balance_cascade", "one_class"];

function field(id, text, input) {
  input.id = id;
  return h("div", {}, h("label", { for: id }, text), input);
}

// The model families by what they read (the spec's `kind`); the recurrent ones share fields.
const TABLE_FAMILIES = ["mlp"];
const SEQUENCE_FAMILIES = ["gru", "lstm"];
// Convolutional families train with their defaults (Wang et al. 2017); the API takes their filters.
const CONV_FAMILIES = ["fcn", "resnet1d"];

async function showNewJob(query) {
  const datasets = (await api.json("/v1/datasets?limit=100")).items;
  const chosen = query.get("dataset") || datasets[0]?.id || "";
  const select = (options, value) => h("select", {}, options.map((o) => h("option", { value: o, selected: o === value }, o)));
  const number = (value, step = "any", min = null) => h("input", { type: "number", value, step, min });
  const inputs = {
    dataset: h("select", {}, datasets.map((d) => h("option", { value: d.id, selected: d.id === chosen }, `${d.name} (${d.id})`))),
    kind: select([...TABLE_FAMILIES, ...SEQUENCE_FAMILIES, ...CONV_FAMILIES], datasets.find((d) => d.id === chosen)?.kind === "sequence" ? "gru" : "mlp"),
    hiddenSize: number(64, 1, 1),
    layers: number(1, 1, 1),
    attention: select(["none", "additive", "multiplicative", "dot"], "additive"),
    hidden: h("input", { type: "text", value: "64, 64" }),
    activation: select(["relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh"], "relu"),
    optimizer: select(["adam", "adamw", "sgd", "rmsprop", "adagrad", "adadelta"], "adam"),
    lr: number(0.001, "any", 0),
    momentum: number(0, "any", 0),
    epochs: number(50, 1, 1),
    l2: number(0, "any", 0),
    dropout: number(0, "any", 0),
    testFraction: number(0, "any", 0),
    batch: number(64, 1, 1),
    early: h("input", { type: "checkbox", checked: true }),
    folds: number(5, 1, 2),
    seed: number(0, 1, 0),
  };
  inputs.early.id = "job-early";
  const strategies = h(
    "fieldset",
    { id: "job-strategies" },
    h("legend", {}, "Imbalance strategies (several: a leaderboard)"),
    STRATEGIES.map((s) =>
      h("label", { for: `strategy-${s}` }, h("input", { id: `strategy-${s}`, type: "checkbox", value: s, checked: s === "none" }), ` ${s}`),
    ),
  );
  const spec = () => {
    const picked = [...strategies.querySelectorAll("input:checked")].map((i) => i.value);
    const optimizer = { kind: inputs.optimizer.value, learning_rate: Number(inputs.lr.value) };
    if (["sgd", "rmsprop"].includes(optimizer.kind) && Number(inputs.momentum.value) > 0) optimizer.momentum = Number(inputs.momentum.value);
    const model = CONV_FAMILIES.includes(inputs.kind.value)
      ? { kind: inputs.kind.value }
      : SEQUENCE_FAMILIES.includes(inputs.kind.value)
        ? { kind: inputs.kind.value, hidden_size: Number(inputs.hiddenSize.value), layers: Number(inputs.layers.value), attention: inputs.attention.value }
        : { hidden_layers: inputs.hidden.value.split(",").map((s) => s.trim()).filter(Boolean).map(Number), activation: inputs.activation.value, dropout: Number(inputs.dropout.value) };
    return {
      dataset_id: inputs.dataset.value,
      model,
      optimizer,
      training: { epochs: Number(inputs.epochs.value), batch_size: Number(inputs.batch.value), l2: Number(inputs.l2.value), early_stopping: inputs.early.checked ? {} : null },
      validation: { folds: Number(inputs.folds.value), test_fraction: Number(inputs.testFraction.value) },
      imbalance: { strategy: picked.length === 1 ? picked[0] : picked },
      seed: Number(inputs.seed.value),
    };
  };
  // Each family's own fields, shown only for it.
  const familyFields = [
    ["mlp", field("job-hidden", "MLP hidden layers (widths, comma-separated)", inputs.hidden)],
    ["mlp", field("job-activation", "MLP activation", inputs.activation)],
    ["mlp", field("job-dropout", "MLP dropout", inputs.dropout)],
    ["recurrent", field("job-hidden-size", "GRU/LSTM state width", inputs.hiddenSize)],
    ["recurrent", field("job-layers", "GRU/LSTM layers", inputs.layers)],
    ["recurrent", field("job-attention", "GRU/LSTM attention", inputs.attention)],
  ];
  const showFamily = () => {
    const k = inputs.kind.value;
    const group = SEQUENCE_FAMILIES.includes(k) ? "recurrent" : TABLE_FAMILIES.includes(k) ? "mlp" : "conv";
    for (const [g, el] of familyFields) el.hidden = g !== group;
  };
  inputs.kind.addEventListener("change", showFamily);
  const familyElements = familyFields.map(([, el]) => el);
  const error = alertBox("job-error");
  const resolved = h("pre", { id: "dry-run-result", "aria-label": "The resolved spec and estimate" });
  const dry = h("button", { id: "dry-run", type: "button", class: "secondary" }, "Dry run");
  dry.addEventListener("click", async () => {
    error.textContent = "";
    try {
      const r = await api.post("/v1/jobs?dry_run=true", spec());
      const e = r.estimate;
      resolved.textContent = `${e.runs} runs, ${e.epochs} epochs, ${e.samples_per_epoch} rows per epoch, about ${Math.ceil(e.memory_bytes / 1048576)} MiB\n\n${JSON.stringify(r.spec, null, 2)}`;
    } catch (err) {
      showError(error, err);
    }
  });
  const form = h(
    "form",
    { id: "job-form", class: "grid" },
    field("job-dataset", "Dataset", inputs.dataset),
    field("job-kind", `Model (${TABLE_FAMILIES.join(", ")}: tables; ${[...SEQUENCE_FAMILIES, ...CONV_FAMILIES].join(", ")}: sequences)`, inputs.kind),
    ...familyElements,
    field("job-optimizer", "Optimizer", inputs.optimizer),
    field("job-lr", "Learning rate", inputs.lr),
    field("job-momentum", "Momentum (sgd, rmsprop)", inputs.momentum),
    field("job-epochs", "Epochs", inputs.epochs),
    field("job-l2", "L2 penalty", inputs.l2),
    field("job-test-fraction", "Test set (share of rows held out of every fold)", inputs.testFraction),
    field("job-batch", "Batch size", inputs.batch),
    field("job-folds", "Folds", inputs.folds),
    field("job-seed", "Seed", inputs.seed),
    h("div", {}, h("label", { for: "job-early" }, inputs.early, " Early stopping")),
    strategies,
    h("div", {}, dry, " ", h("button", { id: "start-job", type: "submit" }, "Start job")),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    try {
      const job = await api.post("/v1/jobs", spec());
      location.hash = `#/jobs/${job.id}`;
    } catch (err) {
      showError(error, err);
    }
  });
  // Filled before the form shows, so nothing typed is overwritten.
  await fillDefaults(inputs);
  showFamily();
  setView("New job", h("section", {}, form, error), h("section", {}, h("h2", {}, "Dry run: the resolved spec"), resolved));
}

/** The form's defaults from the server: the spec a dry run of the dataset alone resolves to. */
async function fillDefaults(inputs) {
  if (!inputs.dataset.value) return;
  const body = { dataset_id: inputs.dataset.value, model: { kind: inputs.kind.value } };
  const r = await api.post("/v1/jobs?dry_run=true", body).catch(() => null);
  const spec = r?.spec;
  if (!spec) return;
  const model = Array.isArray(spec.model) ? spec.model[0] : spec.model;
  inputs.kind.value = model.kind;
  inputs.hidden.value = model.hidden_layers.join(", ");
  inputs.activation.value = model.activation;
  inputs.dropout.value = model.dropout;
  inputs.hiddenSize.value = model.hidden_size;
  inputs.layers.value = model.layers;
  inputs.attention.value = model.attention;
  inputs.optimizer.value = spec.optimizer.kind;
  inputs.lr.value = spec.optimizer.learning_rate;
  inputs.epochs.value = spec.training.epochs;
  inputs.batch.value = spec.training.batch_size;
  inputs.l2.value = spec.training.l2;
  inputs.early.checked = Boolean(spec.training.early_stopping);
  inputs.folds.value = spec.validation.folds;
  inputs.testFraction.value = spec.validation.test_fraction;
  inputs.seed.value = spec.seed;
}

/** Reads an SSE stream with the token header, calling `on(event, data)` per event. */
async function follow(path, on, signal) {
  const res = await api.fetch(path, { headers: { Accept: "text/event-stream" }, signal });
  if (!res.ok) throw new Problem(res.status, await res.json().catch(() => null));
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      let data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      if (data) on(name, JSON.parse(data));
    }
  }
}

const ignoreAbort = (e) => {
  if (e.name !== "AbortError") window.__errors.push(String(e));
};

const PLOTS = [
  ["curves", "Learning curves"],
  ["gradients", "Gradient norm per layer (log scale)"],
  ["leaderboard", "Leaderboard"],
  ["confusion", "Confusion matrix"],
  ["roc", "ROC curves"],
  ["pr", "Precision-recall curves"],
  ["calibration", "Reliability diagram"],
];

/** A plot's numbers as a table (what the picture shows, for screen readers and copying). */
function numbersTable(fig) {
  if (fig.kind === "bars") return table(["variant", "value", "± std"], fig.bars.map((b) => [b.label, fmt(b.value, 4), fmt(b.error, 4)]));
  if (fig.kind === "matrix") return table(["true \\ predicted", ...fig.labels], fig.counts.map((row, i) => [fig.labels[i], ...row]));
  const rows = [];
  for (const s of fig.series) for (const [x, y] of s.points.slice(0, 200)) rows.push([s.name || `(${s.stroke})`, fmt(x, 4), fmt(y, 4)]);
  return table(["series", fig.x.label, fig.y.label], rows);
}

/** A job's runs; with `learning_rate: "auto"`, the rate each chose. */
function runsTable(items, auto) {
  const head = ["run", "kind", "fold", "status", "best epoch", ...(auto ? ["learning rate"] : [])];
  const row = (r) => [h("a", { href: `#/runs/${r.id}` }, r.id), r.kind, r.fold ?? "", r.status, r.best_epoch ?? "", ...(auto ? [r.learning_rate == null ? "" : r.learning_rate.toExponential(2)] : [])];
  return table(head, items.map(row), { id: "runs-table" });
}

async function plotFigure(jobId, name, caption) {
  const box = h("div", { class: "plot", id: `plot-${name}`, role: "img", "aria-label": caption });
  const details = h("details", {}, h("summary", {}, "Show the numbers"));
  const figure = h("figure", {}, box, h("figcaption", {}, caption), details);
  api
    .text(`/v1/jobs/${jobId}/${name}.svg`)
    .then((svg) => {
      box.innerHTML = svg; // our own server's SVG
    })
    .catch((e) => (box.textContent = String(e)));
  details.addEventListener(
    "toggle",
    () => api.json(`/v1/jobs/${jobId}/${name}.svg?format=json`).then((fig) => details.append(numbersTable(fig))).catch(ignoreAbort),
    { once: true },
  );
  return figure;
}

/** A verification of a finding's candidate remedies: each candidate's job, whether it resolved
 * the finding, the metric after, and the verdict once every candidate has ended. */
function verificationView(v) {
  const metric = (m) => (m ? `${fmt(m.mean)} ± ${fmt(m.std)}` : "");
  const resolved = (c) => (c.resolved === true ? "yes" : c.resolved === false ? "no" : c.skipped ? "skipped" : "training…");
  const rows = (v.candidates || []).map((c) => [
    String(c.rank + 1),
    c.name,
    c.job_id ? h("a", { href: `#/jobs/${c.job_id}` }, c.job_id) : c.skipped || "",
    resolved(c),
    metric(c.metric_after),
  ]);
  return h(
    "div",
    { class: "verification", id: `verification-${v.finding}` },
    table(["rank", "candidate", "job", "resolved", "metric after"], rows),
    h("p", { class: "verdict" }, v.complete ? v.verdict || "" : "Training the candidates on the job's folds…"),
  );
}

function findingView(jobId, f, verification, verify) {
  // `{}`: nothing to change automatically (a button would only earn a 409).
  const hasRemedy = f.remedy && Object.keys(f.remedy).length > 0;
  const button = hasRemedy
    ? h("button", { class: "remedy-button", type: "button", "data-finding": f.id }, "Run the remedy")
    : null;
  const verifyButton =
    hasRemedy && !verification
      ? h("button", { class: "verify-button secondary", type: "button", "data-finding": f.id }, "Verify the candidates")
      : null;
  const error = h("span", { class: "alert", role: "alert" });
  if (button)
    button.addEventListener("click", async () => {
      try {
        const job = await api.post(`/v1/jobs/${jobId}/remedy`, { finding: f.id });
        location.hash = `#/jobs/${job.id}`;
      } catch (e) {
        showError(error, e);
      }
    });
  if (verifyButton)
    verifyButton.addEventListener("click", async () => {
      verifyButton.disabled = true;
      try {
        await verify(f.id);
      } catch (e) {
        verifyButton.disabled = false;
        showError(error, e);
      }
    });
  return h(
    "div",
    { class: `finding ${f.severity}`, id: `finding-${f.id}` },
    h("strong", {}, `${f.kind} (${f.severity})${f.strategy ? " · " + f.strategy : ""}${f.variant ? " · model " + f.variant : ""}`),
    h("p", {}, f.evidence?.text || f.evidence?.summary || ""),
    f.advice ? h("p", {}, f.advice) : null,
    hasRemedy
      ? h("p", {}, "Remedy: ", h("code", {}, JSON.stringify(f.remedy)))
      : h("p", { class: "no-remedy" }, "No automatic remedy: the spec already has what it would change."),
    button,
    verifyButton,
    error,
    verification ? verificationView(verification) : null,
  );
}

async function showJob(id) {
  const { signal } = viewAbort;
  const status = h("span", { id: "job-status", class: "status" }, "…");
  const bar = h("progress", { id: "job-progress", max: 1, value: 0, "aria-label": "Progress" });
  const progressText = h("span", { id: "job-progress-text" });
  const lastEpoch = h("p", { id: "job-last-epoch" });
  const results = h("div", { id: "job-results" });
  const findings = h("div", { id: "job-findings" }, "None so far.");
  const downloads = h(
    "p",
    {},
    h("button", { id: "download-predictions", type: "button", class: "secondary", onclick: () => download(`/v1/jobs/${id}/predictions`, `${id}-predictions.csv`, "text/csv").catch(ignoreAbort) }, "Out-of-fold predictions (CSV)"),
  );
  // Live learning curves: each run's training loss as its epochs arrive (redrawn at most
  // twice a second).
  const live = h("section", { id: "live-curves" }, h("h2", {}, "Learning curves, live"), h("p", {}, "Waiting for the first epoch…"));
  const curves = new Map();
  let drawLater = null;
  const drawLive = () => {
    drawLater = null;
    const series = [...curves.entries()].map(([name, points]) => ({ name, points }));
    live.replaceChildren(h("h2", {}, "Learning curves, live"), linesSvg(series, "training loss"));
  };
  setView(
    `Job ${id}`,
    h("section", {}, h("p", {}, "Status: ", status, " ", progressText), bar, lastEpoch, downloads),
    live,
    results,
    h("section", {}, h("h2", {}, "Diagnostics"), findings),
  );
  const job = await api.json(`/v1/jobs/${id}`);
  // Verified remedies by finding id, polled until every candidate has ended.
  const verifications = new Map();
  let listed = [];
  const renderFindings = (list) => {
    listed = list;
    const view = (f) => findingView(id, f, verifications.get(f.id), verify);
    findings.replaceChildren(...(list.length ? list.map(view) : ["None so far."]));
  };
  const loadVerifications = async () => {
    const d = await api.json(`/v1/jobs/${id}/diagnostics`, { signal });
    for (const v of d.verifications || []) verifications.set(v.finding, v);
    renderFindings(listed);
    return [...verifications.values()].every((v) => v.complete);
  };
  const pollVerifications = async () => {
    while (!signal.aborted && !(await loadVerifications())) await new Promise((r) => setTimeout(r, 1000));
  };
  const verify = async (finding) => {
    const started = await api.post(`/v1/jobs/${id}/remedy`, { finding, verify: true });
    verifications.set(finding, { finding, complete: false, candidates: started.candidates });
    renderFindings(listed);
    pollVerifications().catch(ignoreAbort);
  };
  const setStatus = (s) => {
    status.textContent = s;
    status.className = `status status-${s}`;
  };
  setStatus(job.status);
  renderFindings(job.diagnostics || []);
  pollVerifications().catch(ignoreAbort);
  let shown = false;
  const showResults = async () => {
    if (shown) return;
    shown = true;
    await renderResults(job, results);
  };
  const diagnostics = new Map((job.diagnostics || []).map((f) => [f.id, f]));
  follow(
    `/v1/jobs/${id}/events`,
    (name, data) => {
      if (name === "progress") {
        bar.value = data.fraction || 0;
        const running = data.epochs && data.runs_done < data.runs_total;
        progressText.textContent = `runs ${data.runs_done}/${data.runs_total}` + (running ? `, epoch ${data.epoch}/${data.epochs}` : "");
      } else if (name === "epoch") {
        // How many epoch events the page rendered: the browser test reads it.
        lastEpoch.dataset.events = String(Number(lastEpoch.dataset.events || 0) + 1);
        const where = data.fold === null ? "final model" : `fold ${data.fold}`;
        const key = [where, data.repeat ? `repeat ${data.repeat}` : null, data.variant ? `model ${data.variant}` : null, data.strategy].filter(Boolean).join(" · ");
        if (!curves.has(key)) curves.set(key, []);
        if (Number.isFinite(data.record.train_loss)) curves.get(key).push([data.record.epoch, data.record.train_loss]);
        if (!drawLater) drawLater = setTimeout(drawLive, 500);
        lastEpoch.textContent = `Last epoch: ${where}, epoch ${data.record.epoch}, training loss ${fmt(data.record.train_loss, 4)}`;
      } else if (name === "diagnostic") {
        diagnostics.set(data.id, data);
        renderFindings([...diagnostics.values()]);
      } else if (name === "status") {
        setStatus(data.status);
        if (["succeeded", "failed", "cancelled"].includes(data.status)) {
          api.json(`/v1/jobs/${id}`).then((j) => renderFindings(j.diagnostics || [])).catch(ignoreAbort);
          showResults().catch(ignoreAbort);
        }
      }
    },
    signal,
  ).catch(ignoreAbort);
}

/** The finished job's results (`job`: its view, whose spec says which plots it has). */
/** A search's trials against their score: each trial's best standing (over strategies) as a
 * line through its searched values, as parallel coordinates. */
function searchSection(trials, board) {
  const best = trials.map((_, i) => board.filter((r) => r.variant === i && r.mean != null).sort((a, b) => a.rank - b.rank)[0]);
  const shown = trials.map((t, i) => [t, best[i], i]).filter(([, b]) => b);
  if (!shown.length) return null;
  const metric = shown[0][1].metric;
  const axes = [...Object.keys(trials[0]).map((path) => ({ name: path, values: shown.map(([t]) => t[path]) })),
    { name: metric, values: shown.map(([, b]) => b.mean) }];
  return h("section", { id: "search-trials" }, h("h2", {}, `Search: ${shown.length} trials against ${metric}`),
    parallelSvg(axes, shown.map(([, b, i]) => `trial ${i} (rank ${b.rank})`)), rungTable(board));
}

// Nested cross-validation: each outer fold's choice, its inner mean and outer score; the optimism.
function nestedSection(n) {
  const est = n.outer_estimate;
  const line = est
    ? `Outer estimate ${fmt(est.mean, 4)} ± ${fmt(est.std, 4)}, inner best ${fmt(n.inner_best, 4)}: the selection's optimism is ${fmt(n.optimism, 4)} ${n.metric}${n.complete ? "" : " (outer folds still training)"}.`
    : "The outer folds' jobs are still training.";
  return h("section", { id: "nested" }, h("h2", {}, `Nested cross-validation (${n.metric})`), h("p", {}, line),
    table(["outer fold", "job", "status", "chosen", "inner mean", "outer fold's score"],
      n.folds.map((f) => [f.outer_fold, h("a", { href: `#/jobs/${f.job_id}` }, f.job_id), f.status, f.chosen ?? "", fmt(f.inner, 4), fmt(f.outer, 4)]),
      { id: "nested-table" }));
}

// A halving search's trials: the held-out loss at each rung, the epochs spent, why each stopped.
function rungTable(board) {
  const rows = board.filter((r) => r.rungs?.length);
  if (!rows.length) return null;
  const epochs = [...new Set(rows.flatMap((r) => r.rungs.map((l) => l.epoch)))].sort((a, b) => a - b);
  const stopped = (r) => (r.halted_at != null ? `halted at epoch ${r.halted_at}` : "trained to its end");
  return table(
    ["rank", "trial", ...epochs.map((e) => `loss at epoch ${e}`), "epochs", "stopped"],
    rows.map((r) => [r.rank, r.description, ...epochs.map((e) => fmt(r.rungs.find((l) => l.epoch === e)?.loss, 4)), r.epochs, stopped(r)]),
    { id: "rungs-table" },
  );
}

async function renderResults(job, into) {
  const id = job.id;
  const [metrics, runs] = await Promise.all([api.json(`/v1/jobs/${id}/metrics`), api.json(`/v1/jobs/${id}/runs?limit=1000`)]);
  const summary = metrics.summary || {};
  const folds = metrics.folds || [];
  const sections = [
    h(
      "section",
      {},
      h("h2", {}, "Summary over folds (mean ± std)"),
      table(["metric", "mean", "std", "min", "max"], Object.entries(summary).map(([k, s]) => [k, fmt(s.mean, 4), fmt(s.std, 4), fmt(s.min, 4), fmt(s.max, 4)]), { id: "summary-table" }),
    ),
    h(
      "section",
      {},
      h("h2", {}, "Folds"),
      table(
        ["run", "fold", "repeat", "strategy", "best epoch", "balanced accuracy", "roc auc"],
        folds.map((f) => [h("a", { href: `#/runs/${f.run_id}` }, f.run_id), f.fold, f.repeat, f.strategy, f.best_epoch, fmt(f.metrics?.balanced_accuracy, 4), fmt(f.metrics?.roc_auc, 4)]),
        { id: "folds-table" },
      ),
    ),
  ];
  if (metrics.leaderboard)
    sections.push(
      h(
        "section",
        {},
        h("h2", {}, "Leaderboard"),
        table(["rank", "variant", "metric", "mean", "std"], metrics.leaderboard.map((r) => [r.rank, r.description || `${r.variant} · ${r.strategy}`, r.metric, fmt(r.mean, 4), fmt(r.std, 4)]), { id: "leaderboard-table" }),
      ),
    );
  if (metrics.nested) sections.push(nestedSection(metrics.nested));
  const trials = job.spec.search?.sampled;
  const search = trials && metrics.leaderboard ? searchSection(trials, metrics.leaderboard) : null;
  if (search) sections.push(search);
  const plots = [...PLOTS];
  const model = job.spec.model;
  if (!Array.isArray(model) && SEQUENCE_FAMILIES.includes(model.kind) && model.attention !== "none")
    plots.push(["attention", "Attention weight per step (the first sequences)"]);
  if (job.spec.optimizer?.learning_rate === "auto") plots.push(["lr_range", "Learning-rate range test per run (log scale)"]);
  const figures = await Promise.all(plots.map(([name, caption]) => plotFigure(id, name, caption)));
  sections.push(h("section", {}, h("h2", {}, "Plots"), h("div", { class: "plots", id: "plots" }, figures)));
  const final = runs.items.filter((r) => r.kind === "final");
  sections.push(
    h(
      "section",
      {},
      h("h2", {}, "Runs"),
      runsTable(runs.items, job.spec.optimizer?.learning_rate === "auto"),
      final.length ? h("p", {}, "Predict with the final model: POST /v1/jobs/" + id + "/predict") : null,
    ),
  );
  into.replaceChildren(...sections);
}

// ---- runs ----

async function showRun(id) {
  const history = await api.json(`/v1/runs/${id}/metrics`);
  const csv = h("button", { id: "download-history", type: "button", class: "secondary", onclick: () => download(`/v1/runs/${id}/metrics`, `${id}-epochs.csv`, "text/csv").catch(ignoreAbort) }, "Epochs (CSV)");
  const ck = h("button", { id: "download-checkpoint", type: "button", class: "secondary", onclick: () => download(`/v1/runs/${id}/checkpoint`, `${id}.safetensors`).catch(ignoreAbort) }, "Checkpoint (safetensors)");
  const trained = history.filter((r) => (r.phase || "train") === "train");
  const loss = (pick) => trained.filter((r) => Number.isFinite(pick(r))).map((r) => [r.epoch, pick(r)]);
  const lines = [
    { name: "training loss", points: loss((r) => r.train_loss) },
    { name: "held-out loss", points: loss((r) => r.holdout_loss) },
    { name: "validation loss", points: loss((r) => r.val_loss) },
  ].filter((s) => s.points.length);
  setView(
    `Run ${id}`,
    h("section", {}, h("p", {}, csv, " ", ck)),
    h("section", { id: "run-curves" }, h("h2", {}, "Loss per epoch"), linesSvg(lines, "loss")),
    h(
      "section",
      {},
      h("h2", {}, "Epochs"),
      table(
        ["phase", "layer", "epoch", "training loss", "validation loss", "held-out loss", "learning rate", "gradient norm", "seconds"],
        history.map((r) => [r.phase || "train", r.layer ?? "", r.epoch, fmt(r.train_loss, 4), fmt(r.val_loss, 4), fmt(r.holdout_loss, 4), fmt(r.learning_rate, 6), fmt(r.grad_norm, 4), fmt(r.seconds, 3)]),
        { id: "epochs-table" },
      ),
    ),
  );
}

// ---- routing ----

const ROUTES = [
  [/^$|^\/$|^\/datasets$/, () => showDatasets()],
  [/^\/datasets\/([\w-]+)$/, (m) => showDataset(m[1])],
  [/^\/jobs$/, (m, q) => showJobs(q)],
  [/^\/compare$/, (m, q) => showCompare(q)],
  [/^\/jobs\/new$/, (m, q) => showNewJob(q)],
  [/^\/jobs\/([\w-]+)$/, (m) => showJob(m[1])],
  [/^\/runs\/([\w-]+)$/, (m) => showRun(m[1])],
];

async function route() {
  viewAbort.abort();
  viewAbort = new AbortController();
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  const q = new URLSearchParams(query || "");
  for (const [re, show] of ROUTES) {
    const m = path.match(re);
    if (m) {
      try {
        await show(m, q);
      } catch (e) {
        const box = alertBox("view-error");
        showError(box, e);
        view().append(box);
      }
      return;
    }
  }
  setView("Not found", h("p", {}, "No such page. ", h("a", { href: "#/" }, "Datasets")));
}

window.addEventListener("hashchange", route);
document.addEventListener("DOMContentLoaded", route);
