// What every page of minemap shares: its language's strings, numbers written the locale's
// way, reports fetched from this origin, the months a date can be, and the view in the URL.
"use strict";

const minemap = (() => {
  // Okabe & Ito's palette: told apart by readers with any common colour-vision deficiency.
  const COLOURS = {
    SHA: "#E69F00", CHA: "#D55E00",
    cancelled: "#56B4E9", reduced: "#009E73", cleared: "#0072B2",
    remaining: "#CC79A7", border: "#444444", land: "#FAFAF7", water: "#DCE9F2",
  };
  const strings = JSON.parse(document.getElementById("strings").textContent);
  const locale = document.documentElement.lang;

  // The string of `key`, with {name} replaced by values[name].
  function t(key, values = {}) {
    const text = strings[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (whole, name) => values[name] ?? whole);
  }

  // Numbers with the catalog's separators: a browser's Intl may lack the locale's data
  // (Chromium without full ICU writes Azerbaijani numbers as English ones).
  function formatter(options) {
    const english = new Intl.NumberFormat("en", options);
    const swap = {",": t("number.group"), ".": t("number.decimal")};
    return {format: value => english.format(value).replace(/[,.]/g, c => swap[c])};
  }
  const km2Format = formatter({minimumFractionDigits: 2, maximumFractionDigits: 2});
  const haFormat = formatter({maximumFractionDigits: 1});
  const shareFormat = formatter({style: "percent", maximumFractionDigits: 1});

  // Whole m² as km² (or as ha, below a square kilometre, where km² would show 0.00).
  function area(m2, {unit} = {}) {
    if (m2 === null || m2 === undefined) return "–";
    if (unit === "ha" || (unit === undefined && Math.abs(m2) < 1e6 && m2 !== 0)) {
      return t("unit.ha", {value: haFormat.format(m2 / 1e4)});
    }
    return t("unit.km2", {value: km2Format.format(m2 / 1e6)});
  }
  const km2 = value => value === null || value === undefined
    ? "–" : t("unit.km2", {value: km2Format.format(value)});
  const share = value => value === null || value === undefined ? "–" : shareFormat.format(value);

  async function report(path) {
    const response = await fetch(path, {headers: {Accept: "application/json"}});
    if (!response.ok) throw new Error(`${path}: ${response.status}`);
    return response.json();
  }

  // Dates as the API writes them: YYYY-MM-DD, in UTC.
  const iso = day => day.toISOString().slice(0, 10);
  const today = () => iso(new Date());

  // The month ends from January 2021 to today: the dates a slider steps through (today
  // for the month not yet over).
  function monthEnds(first = "2021-01") {
    const [year, month] = first.split("-").map(Number);
    const ends = [], now = today();
    for (let i = 0; ; i++) {
      const end = iso(new Date(Date.UTC(year, month - 1 + i + 1, 0)));
      if (end >= now) { ends.push(now); return ends; }
      ends.push(end);
    }
  }

  // The view in the URL's query (date, district, layers), so that it can be sent as a link.
  function view() { return new URLSearchParams(location.search); }
  function setView(changes) {
    const params = view();
    for (const [name, value] of Object.entries(changes)) {
      if (value === null || value === undefined || value === "") params.delete(name);
      else params.set(name, value);
    }
    const query = params.toString();
    history.replaceState(null, "", `${location.pathname}${query ? "?" + query : ""}${location.hash}`);
    keepLanguageLinks();
  }

  // Switching language keeps the view.
  function keepLanguageLinks() {
    for (const link of document.querySelectorAll("a[data-lang]")) {
      const params = view();
      params.set("lang", link.dataset.lang);
      link.href = `${location.pathname}?${params}${location.hash}`;
    }
  }
  keepLanguageLinks();
  addEventListener("hashchange", keepLanguageLinks);

  return {t, locale, area, km2, share, report, today, monthEnds, view, setView, COLOURS};
})();
