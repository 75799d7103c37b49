// The console's script (a static file: the Content-Security-Policy allows no inline script).
// Copy buttons, and the engagement chart drawn with uPlot from /dashboard/chart.json.
"use strict";

document.addEventListener("click", (event) => {
  const button = event.target.closest("button.copy");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  const done = () => { button.textContent = "Copied"; };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(source.textContent).then(done, () => selectText(source));
  } else {
    selectText(source);
  }
});

function selectText(element) {
  const range = document.createRange();
  range.selectNodeContents(element);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

async function drawChart(element) {
  const answer = await fetch(element.dataset.src, { credentials: "same-origin" });
  if (!answer.ok) { element.textContent = "The chart could not be loaded."; return; }
  const data = await answer.json();
  const series = [
    {},
    { label: "Opens (people)", stroke: "#1f5fbf", width: 2 },
    { label: "Machine opens", stroke: "#8ab0e8", dash: [6, 4] },
    { label: "Clicks (people)", stroke: "#1e7b34", width: 2 },
    { label: "Scanner and bot clicks", stroke: "#c98a00", dash: [6, 4] },
  ];
  const width = () => Math.max(element.clientWidth - 2, 280);
  const chart = new uPlot(
    { width: width(), height: 300, series, scales: { x: { time: true } } },
    [data.time, data.opens, data.machine_opens, data.clicks, data.machine_clicks],
    element,
  );
  element.dataset.points = String(data.time.length);
  element.dataset.total = String(
    [data.opens, data.machine_opens, data.clicks, data.machine_clicks]
      .flat().reduce((a, b) => a + b, 0),
  );
  window.addEventListener("resize", () => chart.setSize({ width: width(), height: 300 }));
}

document.addEventListener("DOMContentLoaded", () => {
  const chart = document.getElementById("chart");
  if (chart && window.uPlot) drawChart(chart);
});
