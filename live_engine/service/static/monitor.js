// The monitor page: a snapshot on connect, then one server-sent event per broadcast message.
"use strict";
const S = { latest: {}, series: [], alerts: [], orders: [], names: [], seen: new Set() };
const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get("token");
const withToken = (path) => token ? path + "?token=" + encodeURIComponent(token) : path;

function num(v, digits = 2) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  return Number(v).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
function signed(el, v, text) { el.textContent = text; el.className = "value" + (v > 0 ? " pos" : v < 0 ? " neg" : ""); }
function esc(s) { return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c])); }
function kv(table, rows) {
  table.innerHTML = rows.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join("");
}

function showMetrics(m) {
  const state = m.state ?? "–";
  $("state").textContent = state;
  $("state").className = "pill" + (/HALT|STOP|EMERG/.test(state) ? " bad" : /HOLD|REDUC|WARM/.test(state) ? " warn" : "");
  $("model-version").textContent = m.model_version ?? "–";
  signed($("position"), m.position, m.position ?? "–");
  signed($("pnl"), m.pnl, num(m.pnl));
  $("drawdown").textContent = m.drawdown_pct == null ? "–" : (100 * m.drawdown_pct).toFixed(2) + " %";
  $("equity").textContent = num(m.equity);
  const lat = m.latency_ms || {};
  $("latency").textContent = `${num(lat.p50, 2)} / ${num(lat.p99, 2)}`;
  $("trades").textContent = `${m.trades ?? "–"} / ${m.win_rate == null ? "–" : (100 * m.win_rate).toFixed(0) + " %"}`;
}

function showDecision(d) {
  kv($("decision"), [["direction", d.direction], ["action", d.action ?? "–"], ["reason", d.reason ?? "–"],
    ["denial", d.denial ?? "–"], ["band", d.band ?? "–"], ["state", d.state ?? "–"],
    ["position", d.position ?? "–"], ["close", num(d.close, 1)], ["model", d.model_version ?? "–"]]);
  if (d.model_version && !S.latest.metrics) $("model-version").textContent = d.model_version;
  const votes = d.votes || {}, weights = d.weights || {};
  const names = [...new Set([...Object.keys(votes), ...Object.keys(weights)])];
  if (!names.length) return;
  $("agents").tBodies[0].innerHTML = names.map((n) => {
    const [sig, conf] = votes[n] || [null, null];
    return `<tr><td>${esc(n)}</td><td>${num(sig, 2)}</td><td>${num(conf, 2)}</td><td>${num(weights[n], 3)}</td></tr>`;
  }).join("");
}

function showSignal(s) {
  kv($("signal"), [["p down / flat / up", `${num(s.p_down)} / ${num(s.p_flat)} / ${num(s.p_up)}`],
    ["model signal", num(s.model_signal, 3)], ["agents signal", num(s.agents_signal, 3)],
    ["combined", num(s.combined, 3)], ["confidence", num(s.confidence, 3)]]);
}

function heat(v) {  // blue (negative) .. white .. red (positive), squashed; grey when missing
  if (v === null || v === undefined) return "#d1d5db";
  const t = Math.tanh(v), a = Math.round(255 * (1 - Math.abs(t)));
  return t >= 0 ? `rgb(255,${a},${a})` : `rgb(${a},${a},255)`;
}

function showFeatures(f) {
  const vals = f.features || [];
  const missing = vals.filter((v) => v === null).length;
  $("features-note").textContent = `${vals.length} values, ${missing} missing, session ${f.session ?? "–"}`;
  $("strip").innerHTML = vals.map((v, i) => `<div title="${esc(S.names[i] ?? i)} = ${v}" style="background:${heat(v)}"></div>`).join("");
  $("features").innerHTML = vals.map((v, i) =>
    `<div><span title="${esc(S.names[i] ?? i)}">${esc(S.names[i] ?? "f" + i)}</span><span>${num(v, 4)}</span></div>`).join("");
}

function showAlerts() {
  const items = S.alerts.slice(-20).reverse();
  $("alerts").innerHTML = items.length ? items.map((a) => {
    const t = a.ts_ns ? new Date(a.ts_ns / 1e6).toLocaleTimeString() : "";
    return `<li><span class="lvl ${esc(a.level)}">${esc(a.level)}</span> <code>${esc(a.code)}</code> ${esc(a.message ?? "")} <span class="muted">${t}</span></li>`;
  }).join("") : '<li class="muted">no alerts</li>';
}

function showOrders() {
  const items = S.orders.slice(-12).reverse();
  $("orders").innerHTML = items.length ? items.map((o) => {
    const t = o.ts_ns ? new Date(o.ts_ns / 1e6).toLocaleTimeString() : "";
    const what = o.topic === "fills" ? "fill" : "order", side = o.side > 0 ? "BUY" : o.side < 0 ? "SELL" : "?";
    const price = o.price == null ? (o.kind ?? "market") : num(o.price, 1);
    return `<li><span class="lvl">${what}</span> ${side} ${esc(o.qty ?? "?")} @ ${esc(price)} ` +
      `<span class="muted">${esc(o.tag ?? "")} ${esc(o.status ?? "")} ${esc(o.client_id ?? "")} ${t}</span></li>`;
  }).join("") : '<li class="muted">no orders yet</li>';
}

function drawChart() {
  const c = $("chart"), g = c.getContext("2d");
  const w = c.width = c.clientWidth * devicePixelRatio, h = c.height = c.clientHeight * devicePixelRatio;
  g.clearRect(0, 0, w, h);
  const pts = S.series, pad = 6 * devicePixelRatio;
  $("chart-note").textContent = pts.length ? `${pts.length} bars: close, spread (ticks), book imbalance L1` : "waiting for bars";
  const rows = [[1, "close", "#1d4ed8", 0.5], [2, "spread", "#b45309", 0.25], [3, "imbalance", "#047857", 0.25]];
  let top = 0;
  g.font = `${11 * devicePixelRatio}px system-ui`;
  for (const [col, label, color, share] of rows) {
    const band = h * share, vals = pts.map((p) => p[col]).filter((v) => v !== null && v !== undefined);
    g.fillStyle = "#7a8394"; g.fillText(label, pad, top + 12 * devicePixelRatio);
    g.strokeStyle = "#eef0f3"; g.beginPath(); g.moveTo(0, top + band - 1); g.lineTo(w, top + band - 1); g.stroke();
    if (vals.length) {
      let lo = Math.min(...vals), hi = Math.max(...vals);
      if (col === 3) { lo = Math.min(lo, -1); hi = Math.max(hi, 1); }
      if (hi === lo) { hi += 1; lo -= 1; }
      const y = (v) => top + pad + (band - 2 * pad) * (1 - (v - lo) / (hi - lo));
      const x = (i) => pts.length < 2 ? w / 2 : (w - 2 * pad) * i / (pts.length - 1) + pad;
      g.strokeStyle = color; g.lineWidth = 1.5 * devicePixelRatio; g.beginPath();
      let open = false;
      pts.forEach((p, i) => {
        const v = p[col];
        if (v === null || v === undefined) { open = false; return; }
        if (open) g.lineTo(x(i), y(v)); else g.moveTo(x(i), y(v));
        open = true;
      });
      g.stroke(); g.lineWidth = 1;
      g.fillStyle = color;
      g.fillText(`${num(vals[vals.length - 1], col === 1 ? 1 : 2)}  [${num(lo, 2)} .. ${num(hi, 2)}]`, w / 2, top + 12 * devicePixelRatio);
    }
    top += band;
  }
}

let redraw = false;
function scheduleChart() { if (!redraw) { redraw = true; requestAnimationFrame(() => { redraw = false; drawChart(); }); } }

function apply(topic, data) {
  S.latest[topic] = data;
  if (topic === "metrics") showMetrics(data);
  else if (topic === "decisions") showDecision(data);
  else if (topic === "signals") showSignal(data);
  else if (topic === "features") showFeatures(data);
}

function addPoint(p) {
  const last = S.series[S.series.length - 1];
  if (last && last[0] === p[0]) S.series[S.series.length - 1] = p; else S.series.push(p);
  if (S.series.length > 600) S.series.shift();
}

function counts(received, lost, epoch) {
  $("counts").textContent = `${received} messages` + (lost ? `, ${lost} lost` : "");
  if (epoch) $("epoch").textContent = epoch;
}

function onSnapshot(snap) {
  S.names = snap.feature_names || [];
  S.series = snap.series || [];
  S.alerts = snap.alerts || [];
  S.orders = snap.orders || [];
  S.seen = new Set([...S.alerts, ...S.orders].map((a) => a.seq));
  for (const [topic, data] of Object.entries(snap.latest || {})) apply(topic, data);
  counts(snap.received, snap.lost, snap.epoch);
  showAlerts(); showOrders(); scheduleChart();
}

function onMessage(ev) {
  apply(ev.topic, ev.data);
  if (ev.topic === "alerts" && !S.seen.has(ev.seq)) {
    S.seen.add(ev.seq); S.alerts.push({ seq: ev.seq, ts_ns: ev.ts_ns, ...ev.data }); showAlerts();
  }
  if ((ev.topic === "orders" || ev.topic === "fills") && !S.seen.has(ev.seq)) {
    S.seen.add(ev.seq); S.orders.push({ seq: ev.seq, ts_ns: ev.ts_ns, topic: ev.topic, ...ev.data }); showOrders();
  }
  if (ev.point) { addPoint(ev.point); scheduleChart(); }
  counts(ev.received, ev.lost, ev.epoch);
}

function connect() {
  const es = new EventSource(withToken("events"));
  es.addEventListener("snapshot", (e) => { $("conn").textContent = "live"; $("conn").className = "pill"; onSnapshot(JSON.parse(e.data)); });
  es.addEventListener("message", (e) => onMessage(JSON.parse(e.data)));
  es.onerror = () => { $("conn").textContent = "reconnecting"; $("conn").className = "pill off"; };
}
window.addEventListener("resize", scheduleChart);
connect();
