// The dashboard at a date: the national figures and the devices (the summary), the district
// table (the districts report) and the burn-down and release charts (the time series), one
// request each to /api/v1/reports. The browser sums nothing; it writes m² as km².
"use strict";

const {t, area, km2, share, report, today, view, setView, COLOURS} = minemap;
const FIRST = "2021-01-01"; // the charts begin here, as the map's slider does
const METHODS = ["cancelled", "reduced", "cleared"];

function shown(value, unit) {
  if (value === null || value === undefined) return "–";
  if (unit === "date") return value;
  if (unit === "share") return share(value);
  if (unit === "km2") return km2(value);
  return area(value, {unit: "km2"});
}

// --- the date ------------------------------------------------------------------------------

const input = document.getElementById("as-of-date");
input.max = today();
const asked = view().get("date");
let shownDate = /^\d{4}-\d{2}-\d{2}$/.test(asked ?? "") && asked >= FIRST && asked < today()
  ? asked : today();

async function showDate(date) {
  shownDate = date;
  input.value = date;
  setView({date: date < today() ? date : null});
  for (const link of document.querySelectorAll("a[data-format]")) {
    link.href = `/api/v1/reports/districts?as_of=${date}&format=${link.dataset.format}&unit=km2`;
  }
  document.getElementById("timeseries-xlsx").href =
    `/api/v1/reports/timeseries?from=${FIRST}&to=${date}&format=xlsx&unit=km2`;
  await Promise.all([national(date), districts(date), releases(date)]);
}

input.addEventListener("change", () => {
  if (input.validity.valid && input.value) showDate(input.value);
});
document.getElementById("latest").addEventListener("click", () => showDate(today()));

// --- the national figures and the devices --------------------------------------------------

async function national(date) {
  const summary = await report(`/api/v1/reports/summary?as_of=${date}`);
  if (date !== shownDate) return; // a later date was asked for meanwhile
  document.getElementById("as-of").textContent = t("dashboard.as_of", {date: summary.as_of});
  for (const cell of document.querySelectorAll("#national [data-key]")) {
    const value = summary[cell.dataset.key];
    cell.dataset.value = value ?? "";
    cell.textContent = shown(value, cell.dataset.unit);
  }
  document.getElementById("national").dataset.date = date;
  const types = Object.keys(summary.devices);
  draw("devices", date, {
    type: "bar",
    data: {labels: types.map(type => t(`device.${type}`)),
           datasets: [{label: t("chart.count"), data: types.map(type => summary.devices[type]),
                       backgroundColor: COLOURS.cleared}]},
    options: {indexAxis: "y", plugins: {legend: {display: false}},
              scales: {x: {beginAtZero: true, ticks: {precision: 0}}}},
  });
}

// --- the district table --------------------------------------------------------------------

async function districts(date) {
  const {districts: rows} = await report(`/api/v1/reports/districts?as_of=${date}`);
  if (date !== shownDate) return;
  const table = document.getElementById("districts");
  const columns = [...table.querySelectorAll("th")].map(th => th.dataset.key);
  const body = table.querySelector("tbody");
  body.replaceChildren();
  for (const row of rows) {
    const tr = body.insertRow();
    for (const key of columns) {
      const td = tr.insertCell();
      td.dataset.value = row[key] ?? "";
      if (key === "district" && row.iso_3166_2) {
        const link = document.createElement("a");
        const params = new URLSearchParams({district: row.iso_3166_2});
        if (date < today()) params.set("date", date);
        link.href = `/?${params}`;
        link.textContent = row.district;
        td.append(link);
      } else {
        td.textContent = key === "district" ? row.district : shown(row[key]);
      }
    }
  }
  const sorted = table.querySelector("th[aria-sort]");
  if (sorted) sortBy(sorted, sorted.getAttribute("aria-sort") === "descending");
  table.dataset.date = date;
}

// Sorting by a column: its header's button, with the keyboard as with the mouse.
function sortBy(th, descending) {
  for (const other of th.parentElement.children) other.removeAttribute("aria-sort");
  th.setAttribute("aria-sort", descending ? "descending" : "ascending");
  const index = [...th.parentElement.children].indexOf(th);
  const body = document.querySelector("#districts tbody");
  const key = row => row.cells[index].dataset.value;
  const rows = [...body.rows].sort(th.dataset.type === "text"
    ? (a, b) => key(a).localeCompare(key(b))
    : (a, b) => Number(key(a)) - Number(key(b)));
  if (descending) rows.reverse();
  body.append(...rows);
}
for (const th of document.querySelectorAll("#districts th")) {
  th.querySelector("button").addEventListener("click",
    () => sortBy(th, th.getAttribute("aria-sort") !== "descending"));
}

// --- the charts of the time series ---------------------------------------------------------

// Days since 1970 and back: the burn-down's x axis is linear in time, so that the projected
// completion, however far, sits where it falls.
const DAY = 864e5;
const days = date => Date.parse(date) / DAY;
const dateOf = n => new Date(Math.round(n) * DAY).toISOString().slice(0, 10);

const charts = {};
// Draws (or redraws) the chart of canvas `id`; data-date says which date it shows.
function draw(id, date, config) {
  const canvas = document.getElementById(id);
  charts[id]?.destroy();
  config.options = {responsive: true, maintainAspectRatio: false, animation: false,
                    ...config.options};
  charts[id] = new Chart(canvas, config);
  canvas.dataset.date = date;
}

async function releases(date) {
  const {periods} = await report(
    `/api/v1/reports/timeseries?from=${FIRST}&to=${date}&interval=month`);
  if (date !== shownDate) return;
  const last = periods[periods.length - 1];
  const at = (value, period) => ({x: days(period.period_end), y: value});
  const projected = last.projected_completion;
  const note = document.getElementById("projection");
  note.textContent = projected
    ? t("chart.projected", {date, completion: projected})
    : t("chart.not_projected", {date});
  note.dataset.completion = projected ?? "";
  // The axis reaches the projected completion, or 30 years on when it lies beyond.
  const end = projected ? Math.min(days(projected), days(date) + 30 * 365.25) : days(date);
  draw("burn-down", date, {
    type: "line",
    data: {datasets: [
      {label: t("chart.baseline"), data: periods.map(p => at(p.baseline_km2, p)),
       borderColor: COLOURS.border, borderDash: [2, 3], pointRadius: 0},
      {label: t("chart.baseline_remaining"), data: periods.map(p => at(p.baseline_remaining_km2, p)),
       borderColor: COLOURS.CHA, backgroundColor: COLOURS.CHA, pointRadius: 2},
      {label: t("chart.remaining"), data: periods.map(p => at(p.remaining_m2 / 1e6, p)),
       borderColor: COLOURS.remaining, backgroundColor: COLOURS.remaining, pointRadius: 2},
      {label: t("chart.projection"), borderColor: COLOURS.CHA, borderDash: [6, 4], pointRadius: 3,
       data: projected ? [at(last.baseline_remaining_km2, last), {x: days(projected), y: 0}] : []},
    ]},
    options: {
      parsing: false,
      scales: {x: {type: "linear", min: days(periods[0].period_end), max: end,
                   ticks: {callback: value => dateOf(value).slice(0, 7)}},
               y: {beginAtZero: true, title: {display: true, text: t("chart.km2")}}},
      plugins: {tooltip: {callbacks: {title: items => dateOf(items[0].parsed.x)}}},
    },
  });
  draw("by-method", date, {
    type: "bar",
    data: {labels: periods.map(p => p.period.slice(0, 7)),
           datasets: METHODS.map(method => ({
             label: t(`method.${method}`), backgroundColor: COLOURS[method],
             data: periods.map(p => p[`${method}_m2`] / 1e6)}))},
    options: {scales: {x: {stacked: true},
                       y: {stacked: true, beginAtZero: true,
                           title: {display: true, text: t("chart.km2")}}}},
  });
}

showDate(shownDate);
