// The dashboard: the national figures and the district table, as /api/v1/reports gives them
// (one request for each). The browser sums nothing; it only writes m² as km².
"use strict";

const {t, area, km2, share, report} = minemap;

function shown(value, unit) {
  if (value === null || value === undefined) return "–";
  if (unit === "date") return value;
  if (unit === "share") return share(value);
  if (unit === "km2") return km2(value);
  return area(value, {unit: "km2"});
}

async function national() {
  const summary = await report("/api/v1/reports/summary");
  document.getElementById("as-of").textContent = t("dashboard.as_of", {date: summary.as_of});
  for (const cell of document.querySelectorAll("#national [data-key]")) {
    const value = summary[cell.dataset.key];
    cell.dataset.value = value ?? "";
    cell.textContent = shown(value, cell.dataset.unit);
  }
}

async function districts() {
  const {districts: rows} = await report("/api/v1/reports/districts");
  const columns = [...document.querySelectorAll("#districts th")].map(th => th.dataset.key);
  const body = document.querySelector("#districts tbody");
  for (const row of rows) {
    const tr = body.insertRow();
    for (const key of columns) {
      const td = tr.insertCell();
      td.dataset.value = row[key] ?? "";
      if (key === "district" && row.iso_3166_2) {
        const link = document.createElement("a");
        link.href = `/?district=${encodeURIComponent(row.iso_3166_2)}`;
        link.textContent = row.district;
        td.append(link);
      } else {
        td.textContent = key === "district" ? row.district : shown(row[key]);
      }
    }
  }
  document.querySelector("#districts").dataset.loaded = "true";
}

// Sorting by a column: its header's button, with the keyboard as with the mouse.
for (const th of document.querySelectorAll("#districts th")) {
  th.querySelector("button").addEventListener("click", () => {
    const descending = th.getAttribute("aria-sort") !== "descending";
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
  });
}

national();
districts();
