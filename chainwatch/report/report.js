// chainwatch report page: builds the plotly charts from the JSON in #report-data.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const x = data.starts;
  const config = { displaylogo: false, responsive: true };
  const dateAxis = () => ({ type: "date", hoverformat: "%Y-%m-%d", automargin: true });

  function changepointShapes(shifts) {
    return shifts.map((s) => ({
      type: "line", xref: "x", yref: "paper", x0: s.changepoint, x1: s.changepoint, y0: 0, y1: 1,
      line: { color: "red", dash: "dash", width: 1.5 },
    }));
  }
  function changepointNotes(shifts) {
    return shifts.map((s) => ({
      xref: "x", yref: "paper", x: s.changepoint, y: 1, xanchor: "left", yanchor: "bottom",
      text: s.from + "→" + s.to + " " + s.changepoint, showarrow: false, font: { color: "red" },
      bgcolor: "rgba(255,255,255,0.85)",
    }));
  }
  function nothing(id, text) {
    const div = document.getElementById(id);
    div.classList.add("empty");
    div.style.height = "auto";
    div.textContent = text;
  }

  // Events over time: one line per group with events; the hover lists the bucket's values.
  function timeseries() {
    if (!data.active.length) return nothing("timeseries", "No events in the range.");
    const traces = data.active.map((g) => ({
      type: "scatter", mode: "lines", name: g, x: x, y: data.groups[g],
      customdata: data.sources[g], line: { color: data.colours[g], width: 1.3 },
      hovertemplate: g + ": %{y} events, %{customdata} sources<extra></extra>",
    }));
    const xaxis = Object.assign(dateAxis(), { rangeslider: { visible: true, thickness: 0.08 } });
    Plotly.newPlot("timeseries", traces, {
      hovermode: "x unified", margin: { t: 30, r: 20, b: 20 }, xaxis: xaxis,
      yaxis: { title: { text: "events per " + data.by }, rangemode: "tozero" },
      legend: { orientation: "h", y: 1.12 },
      shapes: changepointShapes(data.shifts), annotations: changepointNotes(data.shifts),
    }, config);
  }

  // Categories of one coin (or of all groups) stacked.
  function categories() {
    const select = document.getElementById("category-group");
    const owners = Object.values(data.category_group);
    const choices = data.active.filter((g) => owners.includes(g));
    choices.push("all");
    for (const g of choices) {
      const option = document.createElement("option");
      option.value = g;
      option.textContent = g === "all" ? "all categories" : g;
      select.appendChild(option);
    }
    function draw() {
      const want = select.value;
      const names = Object.keys(data.categories).filter(
        (c) => want === "all" || data.category_group[c] === want);
      if (!names.length) return nothing("categories", "No events in the range.");
      const traces = names.map((c) => ({
        type: "scatter", mode: "lines", stackgroup: "one", name: c, x: x, y: data.categories[c],
        line: { width: 0.5 }, hovertemplate: c + ": %{y}<extra></extra>",
      }));
      Plotly.react("categories", traces, {
        hovermode: "x unified", margin: { t: 30, r: 20 }, xaxis: dateAxis(),
        yaxis: { title: { text: "events per " + data.by }, rangemode: "tozero" },
        legend: { orientation: "h", y: 1.12 }, shapes: changepointShapes(data.shifts),
      }, config);
    }
    select.addEventListener("change", draw);
    draw();
  }

  // Share of `to` in from + to per bucket, with the change point and the before/after shares.
  function shares() {
    const select = document.getElementById("share-pair");
    const pairs = data.shift_checks.filter((c) => data.groups[c.from] && data.groups[c.to]);
    if (!pairs.length) return nothing("shares", "No pair to show.");
    pairs.forEach((c, i) => {
      const option = document.createElement("option");
      option.value = String(i);
      option.textContent = c.from + " → " + c.to;
      select.appendChild(option);
    });
    function draw() {
      const pair = pairs[Number(select.value)];
      const a = data.groups[pair.from], b = data.groups[pair.to];
      const share = a.map((v, i) => (v + b[i] > 0 ? b[i] / (v + b[i]) : null));
      const traces = [{
        type: "scatter", mode: "markers", name: pair.to + " share", x: x, y: share,
        customdata: a.map((v, i) => [v, b[i]]), marker: { size: 4, color: data.colours[pair.to] },
        hovertemplate: pair.to + " share %{y:.3f} (%{customdata[1]} of %{customdata[0]}+%{customdata[1]})<extra></extra>",
      }];
      const found = data.shifts.filter((s) => s.from === pair.from && s.to === pair.to);
      const shapes = changepointShapes(found), notes = changepointNotes(found);
      for (const s of found) {
        const sides = [[x[0], s.changepoint, s.share_before, s.share_before_ci, "before"],
                       [s.changepoint, x[x.length - 1], s.share_after, s.share_after_ci, "after"]];
        for (const [x0, x1, level, ci, side] of sides) {
          shapes.push({ type: "rect", xref: "x", yref: "y", x0: x0, x1: x1, y0: ci[0], y1: ci[1],
                        fillcolor: "rgba(200,0,0,0.15)", line: { width: 0 } });
          shapes.push({ type: "line", xref: "x", yref: "y", x0: x0, x1: x1, y0: level, y1: level,
                        line: { color: "rgb(200,0,0)", width: 2 } });
          notes.push({ xref: "x", yref: "y", x: x0, y: ci[side === "after" ? 0 : 1], xanchor: "left",
                       yanchor: side === "after" ? "top" : "bottom",
                       showarrow: false, bgcolor: "rgba(255,255,255,0.85)",
                       text: side + " " + level.toFixed(3) + " [" +
                       ci[0].toFixed(3) + ", " + ci[1].toFixed(3) + "]" });
        }
      }
      Plotly.react("shares", traces, {
        hovermode: "closest", margin: { t: 30, r: 20 }, xaxis: dateAxis(),
        yaxis: { title: { text: pair.to + " / (" + pair.from + " + " + pair.to + ")" },
                 range: [0, 1.05], tickformat: ".0%" },
        shapes: shapes, annotations: notes, showlegend: false,
      }, config);
    }
    select.addEventListener("change", draw);
    draw();
  }

  // Fold change B/A per group with its 95% interval, on a log axis.
  function compare() {
    if (!data.compare || !document.getElementById("compare-chart")) return;
    const rows = data.compare.filter((c) => c.fold_change !== null && c.fold_change > 0);
    if (!rows.length) return nothing("compare-chart", "No group has events in both periods.");
    Plotly.newPlot("compare-chart", [{
      type: "bar", x: rows.map((c) => c.group), y: rows.map((c) => c.fold_change),
      marker: { color: rows.map((c) => data.colours[c.group] || "#888") },
      error_y: {
        type: "data", symmetric: false,
        array: rows.map((c) => (c.ci[1] === null ? 0 : c.ci[1] - c.fold_change)),
        arrayminus: rows.map((c) => c.fold_change - c.ci[0]),
      },
      customdata: rows.map((c) => [c.a.per_day, c.b.per_day, c.ci[0], c.ci[1] === null ? "∞" : c.ci[1]]),
      hovertemplate: "%{x}: ×%{y:.3g} [%{customdata[2]:.3g}, %{customdata[3]}]<br>" +
        "%{customdata[0]:.2f} → %{customdata[1]:.2f} per day<extra></extra>",
    }], {
      margin: { t: 20, r: 20 },
      yaxis: { type: "log", dtick: "D2", title: { text: "fold change B/A" } },
      shapes: [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: 1, y1: 1,
                 line: { color: "#999", dash: "dot" } }],
    }, config);
  }

  timeseries();
  categories();
  shares();
  compare();
})();
