// SPDX-License-Identifier: Apache-2.0
// The cdnopt dashboard: polls the REST API every two seconds and draws four
// ECharts charts (bandwidth with forecast band and safety line, release waves
// stacked on the baseline, naive versus planned peak, system load) plus the
// alert log. Civil times ("YYYY-MM-DD HH:MM:SS", local wall clock with no zone)
// are placed on the time axis as if they were UTC, and ECharts labels the axis
// in UTC (useUTC), so the labels show the civil time unchanged.
//
// Two clocks appear, and each time shown is labelled with its own. The service clock
// (the header's clock, the bandwidth and waves axes, an alert's traffic time) is the
// --now clock, which a replay sets to the years of its traffic. The host clock in UTC
// (the system chart and the time an alert fired) is the machine's real time. A
// bandwidth or forecast alert is also drawn on the bandwidth chart at its traffic time.
'use strict';

const REFRESH_MS = 2000;
const FORECAST_REFRESH_MS = 60000;

const state = {
  lang: cdnoptInitialLanguage(),
  data: { system: null, samples: null, schedule: null, forecast: null },
  lastForecastAt: 0,
  refreshCount: 0,
  ready: false,
  errors: [],
};

const charts = {};

// Create the charts in the page language, replacing any drawn before. ECharts takes its
// locale (the month names on a time axis) only when a chart is created, so a language
// switch calls this.
function createCharts() {
  const locale = state.lang === 'zh' ? 'ZH' : 'EN';
  const make = (id, options) => {
    const node = document.getElementById(id);
    echarts.dispose(node);
    return echarts.init(node, null, { ...options, locale });
  };
  charts.bandwidth = make('chart-bandwidth', { useUTC: true });
  charts.waves = make('chart-waves', { useUTC: true });
  charts.peaks = make('chart-peaks', {});
  charts.system = make('chart-system', { useUTC: true });
}
createCharts();

function text() {
  return CDNOPT_TEXTS[state.lang];
}

function civilToMs(civil) {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$/.exec(civil);
  return m ? Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) : NaN;
}

// Fetch JSON; a 404 or 503 returns null (nothing to show yet), other failures throw.
async function getJson(path) {
  const response = await fetch(path, { cache: 'no-store' });
  if (response.status === 404 || response.status === 503) {
    return null;
  }
  if (!response.ok) {
    throw new Error(`${path}: HTTP ${response.status}`);
  }
  return response.json();
}

// The host's UTC time of seconds since the epoch, in the civil text format.
function utcText(unixS) {
  return civilText(unixS * 1000);
}

// Alerts about traffic (bandwidth and forecast) name the service-clock instant of the
// sample or forecast step they are about. CPU and memory alerts have traffic_at null.
// Only those inside the window of samples drawn are returned, because ECharts would
// stretch the time axis to show one outside it.
function trafficAlerts() {
  const system = state.data.system;
  if (!system) {
    return [];
  }
  const clock = civilToMs(system.clock);
  return system.monitor.alerts.filter((a) => {
    const at = typeof a.traffic_at === 'string' ? civilToMs(a.traffic_at) : NaN;
    return at >= clock - SAMPLES_BEFORE_MS && at <= clock + SAMPLES_AFTER_MS;
  });
}

// Axis options of a time axis named after its clock.
function timeAxis(name) {
  return { type: 'time', name, nameLocation: 'middle', nameGap: 28 };
}

function zip(times, values) {
  return times.map((t, i) => [civilToMs(t), values[i]]);
}

function gridSeries(start, stepS, values) {
  const origin = civilToMs(start);
  return values.map((v, i) => [origin + i * stepS * 1000, v]);
}

// Format a tooltip value to one decimal with its unit suffix, because ECharts 5.6 prints
// every digit of a double (1,248.6200551558954) and no unit. A scatter point's value is its
// [time, value] pair.
function formatValue(value, suffix) {
  const v = Array.isArray(value) ? value[value.length - 1] : value;
  return typeof v === 'number' && Number.isFinite(v) ? `${v.toFixed(1)}${suffix}` : '—';
}

function axisTooltip(suffix) {
  return {
    trigger: 'axis', className: 'cdnopt-tooltip',
    valueFormatter: (value) => formatValue(value, suffix),
  };
}

// ---------------------------------------------------------------------------
// Charts
// ---------------------------------------------------------------------------

function bandwidthOption() {
  const t = text();
  const series = [];
  const samples = state.data.samples;
  series.push({
    name: t.actual, type: 'line', showSymbol: false, lineStyle: { width: 1.5 },
    data: samples ? zip(samples.timestamps, samples.gbps) : [],
  });
  const f = state.data.forecast;
  if (f) {
    // The band is drawn as an invisible lower line plus a stacked (upper - lower) area.
    // The area series contains the width, so its tooltip shows the two bounds instead. Its
    // item colour has the area's hue, so that the legend and tooltip markers match the area.
    // The forecast lines get fixed colours too, because ECharts gives its palette colours
    // only to series without a colour of their own.
    const bandColor = 'rgba(84, 112, 198, 0.2)';
    const bandMarker = 'rgba(84, 112, 198, 0.5)'; // the area's hue, visible as a small marker
    series.push({
      name: t.band, type: 'line', stack: 'band', showSymbol: false, lineStyle: { opacity: 0 },
      itemStyle: { color: bandMarker },
      data: zip(f.timestamps, f.lower_gbps), tooltip: { show: false },
    });
    series.push({
      name: t.band, type: 'line', stack: 'band', showSymbol: false, lineStyle: { opacity: 0 },
      areaStyle: { color: bandColor }, itemStyle: { color: bandMarker },
      data: zip(f.timestamps, f.upper_gbps.map((u, i) => u - f.lower_gbps[i])),
      tooltip: {
        valueFormatter: (_, i) =>
          `${formatValue(f.lower_gbps[i], '')} – ${formatValue(f.upper_gbps[i], ' Gbit/s')}`,
      },
    });
    series.push({
      name: t.forecastMean, type: 'line', showSymbol: false, lineStyle: { type: 'dashed' },
      itemStyle: { color: '#fac858' }, data: zip(f.timestamps, f.mean_gbps),
    });
    series.push({
      name: t.safety, type: 'line', showSymbol: false, itemStyle: { color: '#c23531' },
      data: zip(f.timestamps, f.critical_gbps),
    });
  }
  // Raised alerts are red and cleared ones green, at the value that crossed.
  series.push({
    name: t.alertMarks, type: 'scatter', symbol: 'triangle', symbolSize: 12,
    itemStyle: { color: '#c23531' },
    data: trafficAlerts().map((a) => ({
      value: [civilToMs(a.traffic_at), a.value],
      itemStyle: { color: a.state === 'raised' ? '#c23531' : '#2f9e44' },
    })),
  });
  return {
    title: { text: t.bandwidth, textStyle: { fontSize: 14 } },
    animation: false, // redrawn every refresh, so transitions would only flicker
    tooltip: axisTooltip(' Gbit/s'),
    legend: { top: 24 },
    grid: { top: 64, left: 56, right: 24, bottom: 48 },
    xAxis: timeAxis(t.serviceClockAxis),
    yAxis: { type: 'value', name: 'Gbit/s' },
    series,
  };
}

function wavesOption() {
  const t = text();
  const s = state.data.schedule && state.data.schedule.series;
  const series = [];
  if (s) {
    series.push({
      name: t.baseline, type: 'line', stack: 'total', showSymbol: false, areaStyle: {},
      data: gridSeries(s.start, s.step_s, s.baseline_gbps),
    });
    for (const wave of s.waves) {
      series.push({
        name: `${t.ratio} ${wave.batch_ratio}`, type: 'line', stack: 'total', showSymbol: false,
        areaStyle: {}, data: gridSeries(s.start, s.step_s, wave.gbps),
      });
    }
    series.push({
      name: t.naiveTotal, type: 'line', showSymbol: false,
      lineStyle: { type: 'dotted', color: '#c23531' }, itemStyle: { color: '#c23531' },
      data: gridSeries(s.start, s.step_s, s.naive_total_gbps),
    });
  }
  return {
    title: { text: t.waves, textStyle: { fontSize: 14 } },
    animation: false, // redrawn every refresh, so transitions would only flicker
    tooltip: axisTooltip(' Gbit/s'),
    legend: { top: 24 },
    grid: { top: 64, left: 56, right: 24, bottom: 48 },
    xAxis: timeAxis(t.serviceClockAxis),
    yAxis: { type: 'value', name: 'Gbit/s' },
    series,
  };
}

function peaksOption() {
  const t = text();
  const figures = state.data.schedule && state.data.schedule.figures;
  const naive = figures ? [figures.naive.peak_gbps, figures.naive.p95_gbps] : [];
  const planned = figures ? [figures.planned.peak_gbps, figures.planned.p95_gbps] : [];
  return {
    title: { text: t.peaks, textStyle: { fontSize: 14 } },
    animation: false, // redrawn every refresh, so transitions would only flicker
    tooltip: axisTooltip(' Gbit/s'),
    legend: { top: 24 },
    grid: { top: 64, left: 56, right: 16, bottom: 32 },
    xAxis: { type: 'category', data: [t.peakCategory, t.p95Category] },
    yAxis: { type: 'value', name: 'Gbit/s' },
    series: [
      { name: t.naive, type: 'bar', data: naive, itemStyle: { color: '#c23531' } },
      { name: t.planned, type: 'bar', data: planned, itemStyle: { color: '#2f9e44' } },
    ],
  };
}

function systemOption() {
  const t = text();
  const samples = state.data.system ? state.data.system.monitor.samples : [];
  // A reading the server could not take is null: a gap in the line, never 0%.
  const points = (key) => samples.map((s) => [s.unix_s * 1000,
    s[key] === null ? null : +(s[key] * 100).toFixed(2)]);
  return {
    title: { text: t.system, textStyle: { fontSize: 14 } },
    animation: false, // redrawn every refresh, so transitions would only flicker
    tooltip: axisTooltip('%'),
    legend: { top: 24 },
    grid: { top: 64, left: 48, right: 16, bottom: 48 },
    xAxis: timeAxis(t.hostTimeAxis),
    yAxis: { type: 'value', min: 0, max: 100 },
    series: [
      { name: t.cpu, type: 'line', showSymbol: false, data: points('cpu_ratio') },
      { name: t.memory, type: 'line', showSymbol: false, data: points('memory_ratio') },
    ],
  };
}

// ---------------------------------------------------------------------------
// Text parts: header, alerts, workers, translations
// ---------------------------------------------------------------------------

function renderTexts() {
  const t = text();
  document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
  for (const node of document.querySelectorAll('[data-i18n]')) {
    const value = t[node.dataset.i18n];
    if (typeof value === 'string') {
      node.textContent = value;
    }
  }
  const langSwitch = document.getElementById('lang-switch');
  langSwitch.textContent = t.switchTo;
  langSwitch.setAttribute('aria-label', t.switchLabel);
  document.getElementById('schedule-note').hidden = state.data.schedule !== null;
  const system = state.data.system;
  if (!system) {
    return;
  }
  document.getElementById('clock').textContent = t.clock(system.clock);
  document.getElementById('host-time').textContent = t.hostTime(utcText(system.unix_s));
  document.getElementById('workers').textContent = t.workers(system.workers);
  document.getElementById('forecast-note').hidden = system.model_loaded;

  const active = system.monitor.active_alerts;
  const banner = document.getElementById('alerts');
  banner.classList.toggle('active', active.length > 0);
  banner.textContent = active.length > 0
    ? t.activeAlerts(active.map((a) => t.alertNames[a] || a))
    : t.noAlerts;

  const body = document.querySelector('#alert-log tbody');
  body.replaceChildren(...system.monitor.alerts.slice().reverse().map((a) => {
    const row = document.createElement('tr');
    const amount = a.unit === 'Gbit/s' ? `${a.value.toFixed(1)} Gbit/s`
      : `${(a.value * 100).toFixed(1)}%`;
    const cells = [utcText(a.unix_s), a.clock || '—', a.traffic_at || '—',
      t.alertNames[a.alert] || a.alert, t[a.state] || a.state, amount];
    for (const value of cells) {
      const cell = document.createElement('td');
      cell.textContent = value;
      row.appendChild(cell);
    }
    return row;
  }));
}

function render() {
  renderTexts();
  charts.bandwidth.setOption(bandwidthOption(), true);
  charts.waves.setOption(wavesOption(), true);
  charts.peaks.setOption(peaksOption(), true);
  charts.system.setOption(systemOption(), true);
}

// ---------------------------------------------------------------------------
// Polling
// ---------------------------------------------------------------------------

// Samples from three days before the service clock to four days after it, so
// that a replay whose traffic lies ahead of the clock is drawn too.
const SAMPLES_BEFORE_MS = 3 * 86400 * 1000;
const SAMPLES_AFTER_MS = 4 * 86400 * 1000;

function civilText(ms) {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

function samplesPath(system) {
  const clock = system ? civilToMs(system.clock) : NaN;
  if (Number.isNaN(clock)) {
    return '/api/v1/samples';
  }
  const from = encodeURIComponent(civilText(clock - SAMPLES_BEFORE_MS));
  const to = encodeURIComponent(civilText(clock + SAMPLES_AFTER_MS));
  return `/api/v1/samples?from=${from}&to=${to}`;
}

async function refresh() {
  try {
    const system = await getJson('/api/v1/system?samples=300');
    const [samples, schedule] = await Promise.all([
      getJson(samplesPath(system)),
      getJson('/api/v1/schedule?series=1'),
    ]);
    state.data.system = system;
    state.data.samples = samples;
    state.data.schedule = schedule ? schedule.schedule : null;

    // A forecast runs the model, so it is refreshed far less often.
    const now = Date.now();
    if (system && system.model_loaded && now - state.lastForecastAt > FORECAST_REFRESH_MS) {
      state.lastForecastAt = now;
      const forecast = await getJson('/api/v1/forecast');
      state.data.forecast = forecast ? forecast.forecast : null;
    }
    render();
    state.refreshCount += 1;
    state.ready = true;
  } catch (error) {
    state.errors.push(String(error));
    console.warn('cdnopt dashboard refresh failed:', error);
  }
}

document.getElementById('lang-switch').addEventListener('click', () => {
  state.lang = state.lang === 'zh' ? 'en' : 'zh';
  window.localStorage.setItem('cdnopt.lang', state.lang);
  createCharts();
  render();
});
// Each chart follows its own box, which also narrows without a window resize event when
// the alert log grows long enough to add a scroll bar.
const chartResizer = new ResizeObserver((entries) => {
  for (const entry of entries) {
    const chart = echarts.getInstanceByDom(entry.target);
    if (chart) {
      chart.resize();
    }
  }
});
for (const id of ['chart-bandwidth', 'chart-waves', 'chart-peaks', 'chart-system']) {
  chartResizer.observe(document.getElementById(id));
}

// Read-only view for the browser test: the data each chart contains right now.
window.cdnoptDashboard = {
  get ready() { return state.ready; },
  get refreshCount() { return state.refreshCount; },
  get language() { return state.lang; },
  get errors() { return state.errors.slice(); },
  summary() {
    const peaks = charts.peaks.getOption();
    const waves = charts.waves.getOption();
    const bandwidth = charts.bandwidth.getOption();
    return {
      title: document.getElementById('title').textContent,
      chartTitles: Object.values(charts).map((c) => c.getOption().title[0].text),
      actualPoints: bandwidth.series[0].data.length,
      actualLast: bandwidth.series[0].data.length
        ? bandwidth.series[0].data[bandwidth.series[0].data.length - 1][1] : null,
      naivePeak: peaks.series[0].data[0],
      plannedPeak: peaks.series[1].data[0],
      waveSeries: waves.series.length,
      waveBaselinePoints: waves.series.length ? waves.series[0].data.length : 0,
      systemPoints: charts.system.getOption().series[0].data.length,
      alertRows: document.querySelectorAll('#alert-log tbody tr').length,
      alertMarks: bandwidth.series.find((s) => s.type === 'scatter').data
        .map((point) => point.value),
      clocks: ['clock', 'host-time'].map((id) => document.getElementById(id).textContent),
      axisNames: Object.values(charts).map((c) => c.getOption().xAxis[0].name || ''),
    };
  },
  // The text of a chart's tooltip at one data index of its first series, as a hover shows it.
  tooltipText(name, dataIndex) {
    charts[name].dispatchAction({ type: 'showTip', seriesIndex: 0, dataIndex });
    const tip = charts[name].getDom().querySelector('.cdnopt-tooltip');
    const text = tip ? tip.innerText : '';
    charts[name].dispatchAction({ type: 'hideTip' });
    return text;
  },
  // The alert log's header and rows as shown, newest row first.
  alertTable() {
    const cells = (row, tag) => [...row.querySelectorAll(tag)].map((cell) => cell.textContent);
    return {
      header: cells(document.querySelector('#alert-log thead tr'), 'th'),
      rows: [...document.querySelectorAll('#alert-log tbody tr')].map((row) => cells(row, 'td')),
    };
  },
  // Collect every text the page shows: its visible lines, the tab title, the switch's
  // label, and the chart titles, series names and axis names and categories ECharts draws.
  shownTexts() {
    const texts = document.body.innerText.split('\n').filter((line) => line.trim() !== '');
    texts.push(document.title, document.getElementById('lang-switch').getAttribute('aria-label'));
    for (const chart of Object.values(charts)) {
      const option = chart.getOption();
      for (const title of option.title) {
        texts.push(title.text, title.subtext);
      }
      for (const series of option.series) {
        texts.push(series.name);
      }
      for (const axis of [...option.xAxis, ...option.yAxis]) {
        texts.push(axis.name, ...(axis.data || []));
      }
    }
    return texts.filter((value) => typeof value === 'string' && value !== '');
  },
};

refresh();
setInterval(refresh, REFRESH_MS);
