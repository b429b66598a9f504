// 报表: draws the report's charts with ECharts (static/vendor/echarts, canvas renderer) from the
// JSON the page carries (#reports-data), and fills the date range from the quick-range buttons.
const echarts = window.echarts;
const charts = [];

function data() {
  const node = document.getElementById("reports-data");
  return node ? JSON.parse(node.textContent) : null;
}

function draw(id, option) {
  const node = document.getElementById(id);
  if (!node || !echarts) return;
  const chart = echarts.init(node, null, { renderer: "canvas" });
  chart.setOption({ animation: false, grid: { left: 44, right: 16, top: 28, bottom: 28 }, ...option });
  node.dataset.drawn = "1";
  charts.push(chart);
}

function render() {
  const d = data();
  if (!d) return;
  const label = (id) => document.querySelector(`#${id}`)?.closest("figure")?.querySelector("figcaption")?.textContent || "";
  // Axis labels as the tables show durations: m:ss, or h:mm past an hour.
  const pad = (n) => String(Math.floor(n)).padStart(2, "0");
  const seconds = { type: "value", axisLabel: { formatter: (v) => (v >= 3600 ? `${Math.floor(v / 3600)}:${pad((v % 3600) / 60)}` : `${Math.floor(v / 60)}:${pad(v % 60)}`) } };
  draw("chart-volume", {
    tooltip: { trigger: "axis" }, xAxis: { type: "category", data: d.periods }, yAxis: { type: "value", minInterval: 1 },
    series: [{ type: "bar", name: label("chart-volume"), data: d.conversations, itemStyle: { color: "#0b5cad" } }],
  });
  draw("chart-frt", {
    tooltip: { trigger: "axis" }, legend: { top: 0 }, xAxis: { type: "category", data: d.periods }, yAxis: seconds,
    series: [{ type: "line", name: "P50", data: d.frt_median, connectNulls: true }, { type: "line", name: "P90", data: d.frt_p90, connectNulls: true }],
  });
  draw("chart-csat", {
    tooltip: { trigger: "axis" }, xAxis: { type: "category", data: ["1", "2", "3", "4", "5"] }, yAxis: { type: "value", minInterval: 1 },
    series: [{ type: "bar", name: label("chart-csat"), data: d.ratings, itemStyle: { color: "#d48806" } }],
  });
  const hours = Array.from({ length: 24 }, (_, h) => String(h).padStart(2, "0"));
  draw("chart-hours", {
    tooltip: { position: "top" }, grid: { left: 64, right: 16, top: 16, bottom: 64 },
    xAxis: { type: "category", data: hours, splitArea: { show: true } }, yAxis: { type: "category", data: d.weekdays, splitArea: { show: true } },
    visualMap: { min: 0, max: Math.max(1, d.heat_max), calculable: false, orient: "horizontal", left: "center", bottom: 0, itemHeight: 120 },
    series: [{ type: "heatmap", name: label("chart-hours"), data: d.heat }],
  });
}

function resizeAll() { charts.forEach((c) => c.resize()); }

function isoDay(date) {
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return local.toISOString().slice(0, 10);
}

function quickRanges() {
  const form = document.getElementById("reports-filters");
  if (!form) return;
  form.querySelectorAll("[data-days]").forEach((button) => {
    button.addEventListener("click", () => {
      const to = form.elements.to.value ? new Date(`${form.elements.to.value}T00:00:00`) : new Date();
      const from = new Date(to.getTime() - (Number(button.dataset.days) - 1) * 86400000);
      form.elements.to.value = isoDay(to);
      form.elements.from.value = isoDay(from);
      form.requestSubmit();
    });
  });
}

render();
quickRanges();
window.addEventListener("resize", resizeAll);
