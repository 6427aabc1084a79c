// SPDX-License-Identifier: Apache-2.0
// Browser test of the dashboard (CTest label "browser"). It starts `cdnopt serve`
// on a free loopback port, loads the day workload and re-plans it, and opens
// /monitor in Debian's headless Chromium through the DevTools protocol. It then
// checks that the page logs no console error, that the charts contain the
// numbers the API returns, that a zh-CN browser opens it in Chinese, and that the
// language switch turns the page into Chinese and back. A sample above the bandwidth alert's threshold, posted after
// the baseline, checks that each time shown names its clock in both languages and
// that the alert shows the service-clock time of its traffic. Screenshots are kept
// under <build>/artifacts/.
//
// Run: node browser_dashboard.mjs (CTest sets CDNOPT_BUILD_DIR and SHARED_DIR).

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';

// Node 22 has a global WebSocket (Node 20 behind --experimental-websocket); older
// Node takes the `ws` package that web/package.json installs for this test.
const WebSocketClass = globalThis.WebSocket ??
  (await import(new URL('../../web/node_modules/ws/wrapper.mjs', import.meta.url))).WebSocket;

const buildDir = process.env.CDNOPT_BUILD_DIR;
const sharedDir = process.env.SHARED_DIR;
assert.ok(buildDir, 'CDNOPT_BUILD_DIR is not set; run the test through ctest');
assert.ok(sharedDir, 'SHARED_DIR is not set; run the test through ctest');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const scratch = mkdtempSync(join(tmpdir(), 'cdnopt-browser-'));
const children = [];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what, probe, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------
// The server and its data
// ---------------------------------------------------------------------------

// The server listens on a port the kernel picks (--port 0), read from its start line: a
// port chosen beforehand could be taken by a test running beside this one.
async function startServer(bandwidthAlertGbps) {
  const log = [];
  const server = spawn(join(buildDir, 'bin', 'cdnopt'), [
    'serve', '--port', '0', '--db', join(scratch, 'dashboard.db'),
    '--now', '2004-12-14 00:00:00', '--web-dir', join(buildDir, 'web'),
    '--monitor-interval', '200ms', '--bandwidth-alert-gbps', String(bandwidthAlertGbps),
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(server);
  server.stderr.on('data', (chunk) => log.push(chunk.toString()));
  const port = await waitFor('the start line of cdnopt serve', async () => {
    const match = / event=start .* port=(\d+) /.exec(log.join(''));
    return match ? Number(match[1]) : undefined;
  });
  const base = `http://127.0.0.1:${port}`;
  await waitFor('cdnopt serve /healthz', async () => (await fetch(`${base}/healthz`)).ok);
  return { base, log };
}

function releasesBatch(csv) {
  const [header, ...rows] = csv.trim().split('\n');
  const names = header.split(',');
  return {
    releases: rows.map((row) => {
      const cells = row.split(',');
      const record = Object.fromEntries(names.map((name, i) => [name, cells[i]]));
      return {
        id: record.id, size_mb: Number(record.size_mb), users: Number(record.users),
        planned_at: record.planned_at,
      };
    }),
  };
}

const day = join(sharedDir, 'workloads', 'day');

const civilMs = (text) => Date.parse(`${text.replace(' ', 'T')}Z`);
const civilText = (ms) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');

// A threshold above every baseline sample, so that only the test's own sample one grid
// step after the baseline's last raises the bandwidth alert.
function alertPlan() {
  const rows = readFileSync(join(day, 'baseline.csv'), 'utf8').trim().split('\n').slice(1)
    .map((line) => line.split(','));
  const threshold = Math.ceil(Math.max(...rows.map((row) => Number(row[1])))) + 1;
  const [before, last] = rows.slice(-2).map((row) => civilMs(row[0]));
  return { threshold, timestamp: civilText(2 * last - before), gbps: threshold + 100.25 };
}

async function seed(base, plan) {
  let response = await fetch(`${base}/api/v1/samples`, {
    method: 'POST', headers: { 'Content-Type': 'text/csv' },
    body: readFileSync(join(day, 'baseline.csv')),
  });
  assert.equal(response.status, 201, 'posting the baseline as samples');
  response = await fetch(`${base}/api/v1/releases`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(releasesBatch(readFileSync(join(day, 'releases.csv'), 'utf8'))),
  });
  assert.equal(response.status, 201, 'posting the releases');
  response = await fetch(`${base}/api/v1/replan`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ against: 'observed', wait: true }),
  });
  assert.equal(response.status, 200, 're-planning against observed traffic');
  // Posted after the re-plan, so that the waves chart shows the plan of the baseline alone.
  response = await fetch(`${base}/api/v1/samples`, {
    method: 'POST', headers: { 'Content-Type': 'text/csv' },
    body: `${plan.timestamp},${plan.gbps}\n`,
  });
  assert.equal(response.status, 201, 'posting the sample above the alert threshold');
}

// ---------------------------------------------------------------------------
// A small DevTools protocol client
// ---------------------------------------------------------------------------

async function launchChromium() {
  const profile = join(scratch, 'profile');
  const browser = spawn(chromiumPath, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    `--user-data-dir=${profile}`, '--remote-debugging-port=0', '--remote-debugging-address=127.0.0.1',
    '--lang=en-US', '--window-size=1400,1800', 'about:blank',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(browser);
  let stderr = '';
  browser.stderr.on('data', (chunk) => { stderr += chunk.toString(); });
  const url = await waitFor('Chromium DevTools endpoint', async () => {
    const match = /DevTools listening on (ws:\/\/\S+)/.exec(stderr);
    return match && match[1];
  });
  return url;
}

class DevTools {
  constructor(url) {
    this.socket = new WebSocketClass(url);
    this.nextId = 1;
    this.pending = new Map();
    this.events = [];
    this.socket.addEventListener('message', (message) => {
      const data = JSON.parse(message.data);
      if (data.id && this.pending.has(data.id)) {
        const { resolve, reject } = this.pending.get(data.id);
        this.pending.delete(data.id);
        if (data.error) {
          reject(new Error(`${data.error.message} (${data.error.code})`));
        } else {
          resolve(data.result);
        }
      } else if (data.method) {
        this.events.push(data);
      }
    });
  }

  opened() {
    return new Promise((resolve, reject) => {
      this.socket.addEventListener('open', resolve, { once: true });
      this.socket.addEventListener('error', reject, { once: true });
    });
  }

  send(method, params = {}, sessionId = undefined) {
    const id = this.nextId++;
    const message = { id, method, params };
    if (sessionId) {
      message.sessionId = sessionId;
    }
    this.socket.send(JSON.stringify(message));
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }
}

async function evaluate(devtools, session, expression) {
  const result = await devtools.send('Runtime.evaluate',
    { expression, returnByValue: true, awaitPromise: true }, session);
  if (result.exceptionDetails) {
    throw new Error(`page threw: ${JSON.stringify(result.exceptionDetails)}`);
  }
  return result.result.value;
}

// Console errors, uncaught exceptions and failed loads the page produced.
function pageErrors(devtools) {
  const errors = [];
  for (const event of devtools.events) {
    if (event.method === 'Runtime.consoleAPICalled' && ['error', 'assert'].includes(event.params.type)) {
      errors.push(`console.${event.params.type}: ${JSON.stringify(event.params.args.map((a) => a.value))}`);
    } else if (event.method === 'Runtime.exceptionThrown') {
      errors.push(`exception: ${event.params.exceptionDetails.text}`);
    } else if (event.method === 'Log.entryAdded' && event.params.entry.level === 'error') {
      errors.push(`log: ${event.params.entry.text} ${event.params.entry.url || ''}`);
    }
  }
  return errors;
}

// ---------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------

// The bandwidth alert's row in the alert log, in the page's language, against the alert
// as the API returns it: the host's UTC time it fired, the service clock then, and the
// service-clock time of the sample that raised it.
function checkAlertRow(table, alert, plan, names) {
  assert.deepEqual(table.header, names.header);
  assert.equal(table.rows.filter((cells) => cells[3] === names.bandwidth).length, 3);
  const row = table.rows.find((cells) => cells[2] === plan.timestamp);
  assert.ok(row, `no alert at ${plan.timestamp} in the log:\n${JSON.stringify(table.rows)}`);
  assert.deepEqual(row, [civilText(alert.unix_s * 1000), alert.clock, plan.timestamp,
    names.bandwidth, names.raised, `${plan.gbps.toFixed(1)} Gbit/s`]);
}

// A browser whose language is zh-CN opens the page in Chinese without ?lang. This runs
// in its own tab before any language switch, because a switch stores the choice.
async function checkBrowserLanguage(devtools, base) {
  const { targetId } = await devtools.send('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await devtools.send('Target.attachToTarget', { targetId, flatten: true });
  await devtools.send('Runtime.enable', {}, sessionId);
  const { userAgent } = await devtools.send('Browser.getVersion');
  await devtools.send('Emulation.setUserAgentOverride', { userAgent, acceptLanguage: 'zh-CN' },
    sessionId);
  await devtools.send('Page.navigate', { url: `${base}/monitor` }, sessionId);
  await waitFor('the dashboard in the browser language to draw', () =>
    evaluate(devtools, sessionId, 'window.cdnoptDashboard && window.cdnoptDashboard.ready'));
  assert.equal(await evaluate(devtools, sessionId, 'navigator.language'), 'zh-CN');
  assert.equal(await evaluate(devtools, sessionId, 'window.cdnoptDashboard.language'), 'zh');
  assert.equal(await evaluate(devtools, sessionId, 'document.documentElement.lang'), 'zh-CN');
  assert.equal(await evaluate(devtools, sessionId, 'document.title'), 'cdnopt 实时监控面板');
  await devtools.send('Target.closeTarget', { targetId });
}

async function main() {
  const plan = alertPlan();
  const { base, log } = await startServer(plan.threshold);
  await seed(base, plan);
  const api = {
    samples: await (await fetch(`${base}/api/v1/samples`)).json(),
    schedule: (await (await fetch(`${base}/api/v1/schedule?series=1`)).json()).schedule,
  };
  // The alert the sample raised, with its traffic time on the service clock.
  const alerts = (await (await fetch(`${base}/api/v1/system`)).json()).monitor.alerts;
  const alert = alerts.find((a) => a.alert === 'bandwidth');
  assert.ok(alert, `no bandwidth alert in ${JSON.stringify(alerts)}`);
  assert.equal(alert.traffic_at, plan.timestamp);
  assert.equal(alert.value, plan.gbps);
  assert.ok(alert.clock.startsWith('2004-12-14 '), alert.clock);

  // Two more alerts 9 days after the clock, outside the 4 days of samples the dashboard
  // draws after it: the chart leaves them out, and the log lists them.
  const far = civilMs('2004-12-23 00:00:00');
  const response = await fetch(`${base}/api/v1/samples`, {
    method: 'POST', headers: { 'Content-Type': 'text/csv' },
    body: `${civilText(far)},1\n${civilText(far + 300000)},${plan.gbps}\n`,
  });
  assert.equal(response.status, 201, 'posting the samples 9 days after the clock');

  const devtools = new DevTools(await launchChromium());
  await devtools.opened();
  await checkBrowserLanguage(devtools, base);
  const { targetId } = await devtools.send('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await devtools.send('Target.attachToTarget', { targetId, flatten: true });
  for (const domain of ['Runtime', 'Log', 'Page']) {
    await devtools.send(`${domain}.enable`, {}, sessionId);
  }
  await devtools.send('Page.navigate', { url: `${base}/monitor?lang=en` }, sessionId);
  await waitFor('the dashboard to draw twice', () =>
    evaluate(devtools, sessionId, 'window.cdnoptDashboard && window.cdnoptDashboard.refreshCount >= 2'));

  // The charts hold what the API returns.
  const summary = await evaluate(devtools, sessionId, 'window.cdnoptDashboard.summary()');
  assert.equal(summary.title, 'cdnopt live dashboard');
  assert.equal(summary.actualPoints, api.samples.gbps.length);
  assert.equal(summary.actualLast, api.samples.gbps[api.samples.gbps.length - 1]);
  assert.equal(summary.naivePeak, api.schedule.figures.naive.peak_gbps);
  assert.equal(summary.plannedPeak, api.schedule.figures.planned.peak_gbps);
  assert.equal(summary.waveSeries, 1 + api.schedule.series.waves.length + 1);
  assert.equal(summary.waveBaselinePoints, api.schedule.series.baseline_gbps.length);
  assert.ok(summary.systemPoints >= 1, 'the system chart has monitor samples');

  // Each time names its clock, and the alert sits on the bandwidth chart at its traffic time.
  assert.ok(summary.clocks[0].startsWith('Service clock: 2004-12-14 '), summary.clocks[0]);
  assert.match(summary.clocks[1], /^Host time \(UTC\): \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  assert.deepEqual(summary.axisNames, ['Service clock', 'Service clock', '', 'Host time (UTC)']);
  assert.equal(summary.chartTitles[3], 'System (%) by host time (UTC)');
  assert.deepEqual(summary.alertMarks, [[civilMs(plan.timestamp), plan.gbps]]);
  checkAlertRow(await evaluate(devtools, sessionId, 'window.cdnoptDashboard.alertTable()'), alert,
    plan, {
      header: ['Fired (host time, UTC)', 'Fired (service clock)', 'Traffic time (service clock)',
        'Alert', 'State', 'Value'],
      bandwidth: 'Bandwidth over threshold', raised: 'raised',
    });

  // The banner names the active alerts, and a tooltip gives each value to one decimal
  // with its unit, where ECharts alone prints every digit of a double and no unit.
  const bannerEn = await evaluate(devtools, sessionId, 'document.getElementById("alerts").textContent');
  assert.match(bannerEn, /^Active alerts: /);
  assert.ok(bannerEn.includes('Bandwidth over threshold'), bannerEn);
  assert.equal(await evaluate(devtools, sessionId, 'document.getElementById("schedule-note").hidden'),
    true, 'the no-schedule note is hidden once a schedule exists');
  const wavesTip = await evaluate(devtools, sessionId, 'window.cdnoptDashboard.tooltipText("waves", 100)');
  assert.ok(wavesTip.includes(`${api.schedule.series.baseline_gbps[100].toFixed(1)} Gbit/s`), wavesTip);
  assert.doesNotMatch(wavesTip, /\d\.\d\d/, wavesTip);
  const systemTip = await evaluate(devtools, sessionId, 'window.cdnoptDashboard.tooltipText("system", 0)');
  assert.match(systemTip, /CPU\s+\d+\.\d%/, systemTip);

  // The screenshot is taken in English, with every chart drawn.
  const shot = await devtools.send('Page.captureScreenshot', { format: 'png' }, sessionId);
  const artifacts = join(buildDir, 'artifacts');
  mkdirSync(artifacts, { recursive: true });
  writeFileSync(join(artifacts, 'dashboard.png'), Buffer.from(shot.data, 'base64'));

  // The switch turns the page and chart titles into Chinese, and back.
  await evaluate(devtools, sessionId, 'document.getElementById("lang-switch").click()');
  const chinese = await evaluate(devtools, sessionId, 'window.cdnoptDashboard.summary()');
  assert.equal(chinese.title, 'cdnopt 实时监控面板');
  assert.ok(chinese.chartTitles[0].startsWith('带宽'), chinese.chartTitles[0]);
  assert.equal(await evaluate(devtools, sessionId, 'document.documentElement.lang'), 'zh-CN');
  assert.ok(chinese.clocks[0].startsWith('服务时钟：2004-12-14 '), chinese.clocks[0]);
  assert.ok(chinese.clocks[1].startsWith('主机时间（UTC）：'), chinese.clocks[1]);
  assert.deepEqual(chinese.axisNames, ['服务时钟', '服务时钟', '', '主机时间（UTC）']);
  assert.equal(chinese.chartTitles[3], '系统负载（%），按主机时间（UTC）');
  // Chinese punctuation in the banner: a full-width colon and the enumeration comma.
  const bannerZh = await evaluate(devtools, sessionId, 'document.getElementById("alerts").textContent');
  assert.ok(bannerZh.startsWith('当前告警：'), bannerZh);
  assert.ok(bannerZh.includes('带宽超过阈值'), bannerZh);
  assert.doesNotMatch(bannerZh, /[:,]/, `ASCII punctuation in the Chinese banner: ${bannerZh}`);
  checkAlertRow(await evaluate(devtools, sessionId, 'window.cdnoptDashboard.alertTable()'), alert,
    plan, {
      header: ['触发时间（主机时间，UTC）', '触发时间（服务时钟）', '流量时刻（服务时钟）', '告警',
        '状态', '数值'],
      bandwidth: '带宽超过阈值', raised: '触发',
    });
  const tables = await evaluate(devtools, sessionId, `[
    Object.keys(CDNOPT_TEXTS.en).sort(), Object.keys(CDNOPT_TEXTS.zh).sort(),
    Object.keys(CDNOPT_TEXTS.en.alertNames).sort(), Object.keys(CDNOPT_TEXTS.zh.alertNames).sort()]`);
  assert.deepEqual(tables[1], tables[0], 'the zh text table has the keys of the en one');
  assert.deepEqual(tables[3], tables[2], 'the zh alert names have the keys of the en ones');
  // In Chinese the page shows no English word but field terms, units, the zone UTC, the API route
  // and flag it names, and the switch back to English.
  const fieldTerms = /cdnopt|Gbit\/s|CPU|UTC|p95|POST \/api\/v1\/replan|--model|^English$/g;
  const shownTexts = await evaluate(devtools, sessionId, 'window.cdnoptDashboard.shownTexts()');
  assert.ok(shownTexts.some((line) => line.startsWith('排期后的发布下载流量')), shownTexts.join('\n'));
  const englishTexts = shownTexts.filter((line) => /[A-Za-z]{2,}/.test(line.replace(fieldTerms, '')));
  assert.deepEqual(englishTexts, [], `English texts in the Chinese page:\n${englishTexts.join('\n')}`);
  const shotZh = await devtools.send('Page.captureScreenshot', { format: 'png' }, sessionId);
  writeFileSync(join(artifacts, 'dashboard-zh.png'), Buffer.from(shotZh.data, 'base64'));
  await evaluate(devtools, sessionId, 'document.getElementById("lang-switch").click()');
  assert.equal(await evaluate(devtools, sessionId, 'window.cdnoptDashboard.language'), 'en');

  const errors = pageErrors(devtools);
  assert.deepEqual(errors, [], `the page logged errors:\n${errors.join('\n')}`);
  assert.deepEqual(await evaluate(devtools, sessionId, 'window.cdnoptDashboard.errors'), []);
  assert.ok(log.join('').includes('route=/monitor status=200'), 'the server logged the page load');
  console.log(`dashboard: ${summary.actualPoints} actual points, naive peak ` +
    `${summary.naivePeak.toFixed(1)} Gbit/s, planned ${summary.plannedPeak.toFixed(1)} Gbit/s; ` +
    `screenshots in ${artifacts}`);
  devtools.socket.close();
}

// Stop the server and the browser: SIGTERM, then SIGKILL for any still running after
// five seconds, so that a browser slow to quit on a loaded machine cannot hang the test.
async function stopChildren() {
  const exited = children.map((child) => (child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', resolve))));
  for (const child of children) {
    child.kill('SIGTERM');
  }
  const grace = new Promise((resolve) => setTimeout(resolve, 5000).unref());
  await Promise.race([Promise.all(exited), grace]);
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
    }
    child.stderr?.destroy();
  }
}

try {
  await main();
  console.log('1 passed, 0 failed');
} catch (error) {
  console.error(error);
  console.log('0 passed, 1 failed');
  process.exitCode = 1;
} finally {
  await stopChildren();
  // Chromium's helper processes may keep a pipe open after the browser has gone, and
  // an open pipe keeps Node (and so ctest) waiting until the test's timeout.
  process.exit(process.exitCode ?? 0);
}
