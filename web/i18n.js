// SPDX-License-Identifier: Apache-2.0
// Dashboard texts in English and Chinese. The page starts in the browser's
// language (Chinese for any zh-* locale), a ?lang=en|zh query overrides it, and
// the header button switches and remembers the choice in localStorage. Every time
// shown names its clock: the service clock (the --now clock that a replay sets to the
// traffic's years) or the host's UTC wall clock.
'use strict';

const CDNOPT_TEXTS = {
  en: {
    title: 'cdnopt live dashboard',
    switchTo: '中文',
    switchLabel: 'Switch language',
    bandwidth: 'Bandwidth: actual, forecast and safety line (Gbit/s)',
    actual: 'Actual',
    forecastMean: 'Forecast mean',
    band: '95% interval',
    safety: 'Safety line',
    waves: 'Planned release waves on the baseline (Gbit/s)',
    baseline: 'Baseline',
    ratio: 'Batch ratio',
    naiveTotal: 'Naive total',
    peaks: 'Peak and p95: naive vs planned (Gbit/s)',
    peakCategory: 'peak',
    p95Category: 'p95',
    naive: 'Naive',
    planned: 'Planned',
    system: 'System (%) by host time (UTC)',
    cpu: 'CPU',
    memory: 'Memory',
    serviceClockAxis: 'Service clock',
    hostTimeAxis: 'Host time (UTC)',
    alertMarks: 'Alerts at their traffic time',
    alertLog: 'Alert log',
    firedHost: 'Fired (host time, UTC)',
    firedClock: 'Fired (service clock)',
    trafficAt: 'Traffic time (service clock)',
    alert: 'Alert',
    state: 'State',
    value: 'Value',
    raised: 'raised',
    cleared: 'cleared',
    activeAlerts: (names) => `Active alerts: ${names.join(', ')}`,
    noAlerts: 'No active alerts',
    noModel: 'No forecasting model is loaded (start the server with --model), so only actual traffic is shown.',
    noSchedule: 'No schedule yet: POST /api/v1/replan to make one.',
    workers: (w) => `Workers: ${w.live} live, ${w.busy} busy (${w.min}-${w.max}); ` +
      `jobs queued: ${w.queued}; recycles: ${w.recycles}`,
    clock: (t) => `Service clock: ${t}`,
    hostTime: (t) => `Host time (UTC): ${t}`,
    alertNames: {
      cpu: 'CPU over threshold', memory: 'Memory over threshold',
      bandwidth: 'Bandwidth over threshold', forecast: 'Forecast safety line over threshold',
    },
  },
  zh: {
    title: 'cdnopt 实时监控面板',
    switchTo: 'English',
    switchLabel: '切换语言',
    bandwidth: '带宽：实际值、预测值与安全线（Gbit/s）',
    actual: '实际带宽',
    forecastMean: '预测均值',
    band: '95% 预测区间',
    safety: '安全线',
    waves: '排期后的发布下载流量，叠加在基线上（Gbit/s）',
    baseline: '基线',
    ratio: '批次比例',
    naiveTotal: '不错峰时的总带宽',
    peaks: '峰值与 p95：不错峰与错峰后（Gbit/s）',
    peakCategory: '峰值',
    p95Category: 'p95',
    naive: '不错峰',
    planned: '错峰后',
    system: '系统负载（%），按主机时间（UTC）',
    cpu: 'CPU',
    memory: '内存',
    serviceClockAxis: '服务时钟',
    hostTimeAxis: '主机时间（UTC）',
    alertMarks: '告警（标在流量时刻）',
    alertLog: '告警记录',
    firedHost: '触发时间（主机时间，UTC）',
    firedClock: '触发时间（服务时钟）',
    trafficAt: '流量时刻（服务时钟）',
    alert: '告警',
    state: '状态',
    value: '数值',
    raised: '触发',
    cleared: '恢复',
    activeAlerts: (names) => `当前告警：${names.join('、')}`,
    noAlerts: '当前无告警',
    noModel: '未加载预测模型（启动服务时加 --model），因此只显示实际流量。',
    noSchedule: '尚无排期：调用 POST /api/v1/replan 生成。',
    workers: (w) => `工作线程：${w.live} 个在运行，${w.busy} 个忙碌（下限 ${w.min}，上限 ${w.max}）；` +
      `排队任务：${w.queued}；回收次数：${w.recycles}`,
    clock: (t) => `服务时钟：${t}`,
    hostTime: (t) => `主机时间（UTC）：${t}`,
    alertNames: {
      cpu: 'CPU 超过阈值', memory: '内存超过阈值',
      bandwidth: '带宽超过阈值', forecast: '预测安全线超过阈值',
    },
  },
};

function cdnoptInitialLanguage() {
  const query = new URLSearchParams(window.location.search).get('lang');
  if (query === 'en' || query === 'zh') {
    return query;
  }
  const saved = window.localStorage.getItem('cdnopt.lang');
  if (saved === 'en' || saved === 'zh') {
    return saved;
  }
  return (navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh' : 'en';
}
