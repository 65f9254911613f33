// The dashboard's enhancements. The server renders every figure and table; this script
// only reformats figures and dates for the reader's locale, draws the charts from the
// data tables beside them (Chart.js, vendored in static/vendor/chartjs), lets a whole
// panel row apply its filter, and copies the embed snippet.
(function () {
  "use strict";

  var locales = navigator.languages && navigator.languages.length ? navigator.languages : undefined;
  var formats = {
    count: new Intl.NumberFormat(locales, { maximumFractionDigits: 0 }),
    decimal: new Intl.NumberFormat(locales, { maximumFractionDigits: 2 }),
    percent: new Intl.NumberFormat(locales, { style: "percent", maximumFractionDigits: 1 }),
    seconds: new Intl.NumberFormat(locales, { style: "unit", unit: "second", unitDisplay: "narrow" }),
    minutes: new Intl.NumberFormat(locales, { style: "unit", unit: "minute", unitDisplay: "narrow" }),
    hours: new Intl.NumberFormat(locales, { style: "unit", unit: "hour", unitDisplay: "narrow" })
  };
  // Report days and hours are the site's wall-clock times: read and shown as UTC so that
  // the reader's own time zone never shifts them.
  var dates = {
    day: new Intl.DateTimeFormat(locales, { dateStyle: "medium", timeZone: "UTC" }),
    month: new Intl.DateTimeFormat(locales, { year: "numeric", month: "short", timeZone: "UTC" }),
    hour: new Intl.DateTimeFormat(locales, {
      month: "short", day: "numeric", hour: "numeric", timeZone: "UTC"
    })
  };

  function duration(total) {
    var seconds = Math.round(total);
    var hours = Math.floor(seconds / 3600);
    var minutes = Math.floor((seconds % 3600) / 60);
    if (hours) {
      return formats.hours.format(hours) + " " + formats.minutes.format(minutes);
    }
    if (minutes) {
      return formats.minutes.format(minutes) + " " + formats.seconds.format(seconds % 60);
    }
    return formats.seconds.format(seconds);
  }

  function formatFigure(kind, value) {
    if (kind === "duration") {
      return duration(value);
    }
    return (formats[kind] || formats.count).format(value);
  }

  function formatTime(unit, text) {
    // "YYYY-MM", "YYYY-MM-DD" or "YYYY-MM-DDTHH:00"
    var suffix = { 7: "-01T00:00:00Z", 10: "T00:00:00Z" }[text.length] || ":00Z";
    var when = new Date(text + suffix);
    if (isNaN(when.getTime())) {
      return text;
    }
    return (dates[unit] || dates.day).format(when);
  }

  function localise(root) {
    root.querySelectorAll("data[data-kind]").forEach(function (element) {
      var value = Number(element.value);
      if (!isNaN(value)) {
        element.textContent = formatFigure(element.dataset.kind, value);
      }
    });
    root.querySelectorAll("time[datetime]").forEach(function (element) {
      element.textContent = formatTime(element.dataset.unit, element.getAttribute("datetime"));
    });
  }

  var PALETTE = ["#1d2b4f", "#c2410c", "#0f766e", "#7c3aed"];

  function tableSeries(table, columns) {
    var headings = table.tHead.rows[0].cells;
    var labels = [];
    var series = columns.map(function (index, n) {
      var colour = PALETTE[n % PALETTE.length];
      return {
        label: headings[index].textContent.trim(),
        data: [],
        borderColor: colour,
        backgroundColor: colour,
        pointRadius: 0,
        tension: 0
      };
    });
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      labels.push(row.cells[0].textContent.trim());
      columns.forEach(function (index, n) {
        var figure = row.cells[index] && row.cells[index].querySelector("data");
        series[n].data.push(figure ? Number(figure.value) : 0);
      });
    });
    return { labels: labels, datasets: series };
  }

  function addTableToggle(holder, table) {
    // Sighted readers get the chart and may open the table; screen readers always have it.
    table.classList.add("visually-hidden");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "table-toggle";
    button.textContent = "Show the data as a table";
    button.setAttribute("aria-expanded", "false");
    button.addEventListener("click", function () {
      var shown = table.classList.toggle("visually-hidden") === false;
      button.setAttribute("aria-expanded", String(shown));
      button.textContent = shown ? "Hide the table" : "Show the data as a table";
    });
    holder.insertAdjacentElement("afterend", button);
  }

  function drawChart(holder) {
    var table = document.getElementById(holder.dataset.for);
    if (!table || typeof window.Chart !== "function") {
      return;
    }
    var kind = holder.dataset.kind || "count";
    var stacked = holder.hasAttribute("data-stacked");
    var columns = holder.dataset.columns.split(",").map(Number);
    var canvas = document.createElement("canvas");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", holder.dataset.label + ". The same data follows as a table.");
    holder.appendChild(canvas);
    var data = tableSeries(table, columns);
    new window.Chart(canvas, {
      type: holder.dataset.chart,
      data: data,
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { stacked: stacked, ticks: { autoSkip: true, maxRotation: 0 } },
          y: {
            stacked: stacked,
            beginAtZero: true,
            ticks: {
              // Counts are whole: no 1.5 visitors on the axis.
              precision: kind === "count" ? 0 : undefined,
              callback: function (value) { return formatFigure(kind, value); }
            }
          }
        },
        plugins: {
          legend: { display: data.datasets.length > 1 },
          tooltip: {
            callbacks: {
              label: function (context) {
                return context.dataset.label + ": " + formatFigure(kind, context.parsed.y);
              }
            }
          }
        }
      }
    });
    holder.dataset.drawn = "true";
    addTableToggle(holder, table);
  }

  function clickableRows(root) {
    // The value cell holds the filter link; a click anywhere on its row follows it.
    root.querySelectorAll("table.breakdown tbody tr").forEach(function (row) {
      var link = row.querySelector("a[data-filter]");
      if (!link) {
        return;
      }
      row.classList.add("clickable");
      row.addEventListener("click", function (event) {
        if (!event.target.closest("a")) {
          link.click();
        }
      });
    });
  }

  function tabs(root) {
    // A panel of several tables (top, entry and exit pages...) shows one at a time, as
    // tabs; without this script they are simply listed one after the other.
    root.querySelectorAll(".panel").forEach(function (panel) {
      var parts = panel.querySelectorAll(":scope > .subpanel");
      if (parts.length < 2) {
        return;
      }
      var list = document.createElement("div");
      list.setAttribute("role", "tablist");
      list.setAttribute("aria-label", panel.querySelector("h2").textContent.trim());
      var buttons = Array.prototype.map.call(parts, function (part, index) {
        var tab = document.createElement("button");
        tab.type = "button";
        tab.id = part.id + "-tab";
        tab.textContent = part.dataset.title;
        tab.setAttribute("role", "tab");
        tab.setAttribute("aria-controls", part.id);
        part.setAttribute("role", "tabpanel");
        part.setAttribute("aria-labelledby", tab.id);
        list.appendChild(tab);
        tab.addEventListener("click", function () { select(index, false); });
        return tab;
      });
      function select(chosen, focus) {
        buttons.forEach(function (tab, index) {
          var selected = index === chosen;
          tab.setAttribute("aria-selected", String(selected));
          tab.tabIndex = selected ? 0 : -1;
          parts[index].hidden = !selected;
        });
        if (focus) {
          buttons[chosen].focus();
        }
      }
      list.addEventListener("keydown", function (event) {
        var current = buttons.indexOf(document.activeElement);
        var moves = {
          ArrowRight: current + 1, ArrowLeft: current - 1, Home: 0, End: buttons.length - 1
        };
        if (current < 0 || !(event.key in moves)) {
          return;
        }
        event.preventDefault();
        select((moves[event.key] + buttons.length) % buttons.length, true);
      });
      parts[0].insertAdjacentElement("beforebegin", list);
      select(0, false);
    });
  }

  function copyButtons(root) {
    root.querySelectorAll("button[data-copy]").forEach(function (button) {
      var source = document.getElementById(button.dataset.copy);
      var status = root.querySelector("[data-copy-status]");
      if (!source || !navigator.clipboard) {
        return;
      }
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(source.textContent).then(function () {
          if (status) {
            status.textContent = "Copied to the clipboard.";
          }
        });
      });
    });
  }

  function start() {
    var main = document.querySelector("main") || document.body;
    localise(main);
    main.querySelectorAll(".chart[data-for]").forEach(drawChart);
    clickableRows(main);
    tabs(main);
    copyButtons(main);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
