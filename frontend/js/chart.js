// A small SVG line chart: CER (y) against the number of verified training lines (x).

import {h, svg} from './dom.js';

/** A round step for about `count` intervals up to `value`: 1, 2 or 5 times a power of ten. */
function niceStep(value, count = 4) {
  const raw = Math.max(value, 1e-9) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  for (const step of [1, 2, 5, 10]) if (step * magnitude >= raw) return step * magnitude;
  return 10 * magnitude;
}

function axis(max, count = 4) {
  const step = niceStep(max, count);
  const top = Math.max(step, Math.ceil(max / step - 1e-9) * step);
  const ticks = [];
  for (let value = 0; value <= top + step / 2; value += step) ticks.push(value);
  return {top, ticks, step};
}

/**
 * points: [{x, y, label, kind}] with y a rate in [0, 1]; `kind` 'rejected'
 * draws a hollow point and keeps it off the line (the models that were used).
 */
export function cerChart(points, {width = 640, height = 280, title = 'CER against verified lines'} = {}) {
  const pad = {left: 56, right: 16, top: 16, bottom: 44};
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const xAxis = axis(Math.max(1, ...xs));
  const yAxis = axis(Math.max(0.01, ...ys));
  const xMax = xAxis.top;
  const yMax = yAxis.top;
  // Enough decimals to tell the y ticks apart (in percent).
  const digits = Math.max(0, -Math.floor(Math.log10(yAxis.step * 100) + 1e-9));
  const px = (x) => pad.left + (x / xMax) * (width - pad.left - pad.right);
  const py = (y) => height - pad.bottom - (y / yMax) * (height - pad.top - pad.bottom);
  const used = points.filter((p) => p.kind !== 'rejected').sort((a, b) => a.x - b.x);
  const id = `chart-${Math.random().toString(36).slice(2, 8)}`;
  const description = points.length
    ? points.map((p) => `${p.label}: ${p.x} lines, CER ${(p.y * 100).toFixed(1)}%`).join('; ')
    : 'No model has been evaluated yet.';
  return svg(
    'svg',
    {class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-labelledby': `${id}-t ${id}-d`},
    svg('title', {id: `${id}-t`}, title),
    svg('desc', {id: `${id}-d`}, description),
    yAxis.ticks.map((y) => [
      svg('line', {class: 'grid', x1: pad.left, x2: width - pad.right, y1: py(y), y2: py(y)}),
      svg('text', {x: pad.left - 8, y: py(y) + 4, 'text-anchor': 'end'}, `${(y * 100).toFixed(digits)}%`),
    ]),
    xAxis.ticks.map((x) =>
      svg('text', {x: px(x), y: height - pad.bottom + 18, 'text-anchor': 'middle'}, String(Math.round(x))),
    ),
    svg('line', {class: 'axis', x1: pad.left, x2: width - pad.right, y1: py(0), y2: py(0)}),
    svg('line', {class: 'axis', x1: pad.left, x2: pad.left, y1: pad.top, y2: py(0)}),
    svg('text', {x: (pad.left + width - pad.right) / 2, y: height - 6, 'text-anchor': 'middle'}, 'verified training lines'),
    svg('text', {x: 14, y: (pad.top + height - pad.bottom) / 2, 'text-anchor': 'middle', transform: `rotate(-90 14 ${(pad.top + height - pad.bottom) / 2})`}, 'CER'),
    used.length > 1
      ? svg('polyline', {class: 'series', points: used.map((p) => `${px(p.x)},${py(p.y)}`).join(' ')})
      : null,
    points.map((p) =>
      svg('circle', {class: `point ${p.kind || ''}`, cx: px(p.x), cy: py(p.y), r: 5},
        svg('title', {}, `${p.label}: ${p.x} lines, CER ${(p.y * 100).toFixed(1)}%`)),
    ),
    points.length ? null : svg('text', {x: width / 2, y: height / 2, 'text-anchor': 'middle'}, 'No evaluated model yet'),
  );
}

export const legend = () =>
  h('p', {class: 'muted'}, 'Filled points: models that were used; hollow: trained but not better than the active one.');
