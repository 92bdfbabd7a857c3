// The page view (reviewers and admins): the page image, zoomable, every line's
// outline coloured by its state; click a line to read and correct its text, and
// fix the cut: delete a line, merge the selected lines, split one where you
// click, draw a new one (drag a box), and change the reading order (drag in the
// list, or the up and down buttons). Every fix answers with the page as it now is.

import {api, poll} from '../api.js';
import {announce, h, replace, showError, svg, uuid4} from '../dom.js';

const ZOOMS = [0.25, 0.33, 0.5, 0.67, 0.8, 1, 1.25, 1.5, 2, 3];
const STATE_NAMES = {unlabeled: 'unlabeled', labeled: 'labeled', flagged: 'flagged', model_accepted: 'model-accepted'};

const points = (polygon) => polygon.map(([x, y]) => `${x},${y}`).join(' ');

export async function render(main, {project}) {
  const pageId = Number(window.location.pathname.split('/').pop());
  let data = null;
  let zoom = null; // null: fit to the width available
  let mode = 'select'; // select | split | draw
  let selected = []; // line ids, in the order they were clicked

  const heading = h('h1', {}, 'Page');
  const where = h('p', {class: 'muted'});
  const image = h('img', {class: 'page-image', alt: 'The page'});
  const overlay = svg('svg', {class: 'page-overlay', role: 'group', 'aria-label': 'Lines on the page'});
  const stage = h('div', {class: 'page-stage'}, image, overlay);
  const frame = h('div', {class: 'page-frame'}, stage);
  const zoomLabel = h('span', {class: 'muted', 'aria-live': 'polite'});
  const legend = h('p', {class: 'page-legend muted'}, Object.entries(STATE_NAMES).map(([state, name]) =>
    h('span', {class: `legend-${state}`}, name)));
  const modeButtons = {};
  const modeButton = (name, label, title) => (modeButtons[name] = h('button', {type: 'button', 'aria-pressed': 'false', title, onclick: () => setMode(name)}, label));
  const deleteButton = h('button', {type: 'button', disabled: true, onclick: () => removeLine()}, 'Delete line');
  const mergeButton = h('button', {type: 'button', disabled: true, title: 'Shift+click or Ctrl+click a second line to select it too', onclick: () => merge()}, 'Merge selected');
  const toolbar = h('div', {class: 'page-toolbar', role: 'toolbar', 'aria-label': 'Page tools'},
    h('button', {type: 'button', 'aria-label': 'Zoom out', onclick: () => stepZoom(-1)}, '−'),
    h('button', {type: 'button', 'aria-label': 'Zoom in', onclick: () => stepZoom(1)}, '+'),
    h('button', {type: 'button', onclick: () => { zoom = null; layout(); }}, 'Fit'),
    zoomLabel,
    modeButton('select', 'Select', 'Click a line to select it'),
    modeButton('split', 'Split', 'Click a line where it should be cut in two'),
    modeButton('draw', 'Draw line', 'Drag a box around a line the cut missed'),
    deleteButton, mergeButton);
  const editor = h('div', {class: 'page-line-editor card'});
  const order = h('ol', {class: 'reading-order', 'aria-label': 'Reading order'});
  const side = h('aside', {class: 'page-side'}, editor, h('h2', {}, 'Reading order'), order, resegmentForm());

  function scale() {
    if (!data) return 1;
    return zoom ?? Math.min(1, Math.max(0.1, (frame.clientWidth || 800) / data.width));
  }

  function layout() {
    const s = scale();
    const [width, height] = [Math.round(data.width * s), Math.round(data.height * s)];
    image.width = width;
    image.height = height;
    overlay.setAttribute('width', String(width));
    overlay.setAttribute('height', String(height));
    zoomLabel.textContent = `${Math.round(s * 100)} %`;
  }

  function stepZoom(direction) {
    const s = scale();
    const next = direction > 0 ? ZOOMS.find((z) => z > s + 0.001) : [...ZOOMS].reverse().find((z) => z < s - 0.001);
    zoom = next ?? s;
    layout();
  }

  function setMode(name) {
    mode = name;
    for (const [key, button] of Object.entries(modeButtons)) button.setAttribute('aria-pressed', String(key === name));
    overlay.dataset.mode = name;
  }

  /** Page pixels under a pointer event. */
  function pagePoint(event) {
    const box = overlay.getBoundingClientRect();
    const s = box.width / data.width;
    return [Math.round((event.clientX - box.left) / s), Math.round((event.clientY - box.top) / s)];
  }

  async function change(promise, done) {
    try {
      const page = await promise;
      show(page);
      announce(done);
    } catch (error) {
      showError(error.message);
    }
  }

  function lineOf(id) {
    return data.lines.find((line) => line.id === id);
  }

  function select(id, {add = false} = {}) {
    if (add) selected = selected.includes(id) ? selected.filter((other) => other !== id) : [...selected, id];
    else selected = [id];
    drawLines();
    showEditor();
  }

  function drawLines() {
    overlay.setAttribute('viewBox', `0 0 ${data.width} ${data.height}`);
    replace(overlay, data.lines.map((line) => {
      const shape = svg('polygon', {
        points: points(line.polygon.length ? line.polygon : boxPolygon(line.bbox)),
        class: `line-shape state-${line.state}${selected.includes(line.id) ? ' selected' : ''}`,
        dataset: {lineId: String(line.id), state: line.state},
        tabindex: '0',
        role: 'button',
        'aria-pressed': String(selected.includes(line.id)),
        'aria-label': `Line ${line.reading_order + 1} (${STATE_NAMES[line.state]}): ${line.text || 'no text'}`,
      });
      shape.addEventListener('click', (event) => {
        event.stopPropagation();
        if (mode === 'split') {
          const [x] = pagePoint(event);
          change(api.post(`/api/lines/${line.id}/split`, {x}), `Line split at x = ${x}.`);
          setMode('select');
        } else if (mode === 'select') {
          select(line.id, {add: event.shiftKey || event.ctrlKey || event.metaKey});
        }
      });
      shape.addEventListener('keydown', (event) => {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          select(line.id, {add: event.shiftKey});
        }
      });
      return shape;
    }));
    deleteButton.disabled = selected.length !== 1;
    mergeButton.disabled = selected.length < 2;
  }

  function boxPolygon(bbox) {
    if (!bbox) return [];
    const [x0, y0, x1, y1] = bbox;
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]];
  }

  function showEditor() {
    const line = selected.length === 1 ? lineOf(selected[0]) : null;
    if (!line) {
      replace(editor, h('p', {class: 'muted'}, selected.length > 1 ? `${selected.length} lines selected.` : 'Click a line to see and edit its text.'));
      return;
    }
    const text = h('textarea', {id: 'page-line-text', rows: '2', dir: 'auto', spellcheck: 'false'});
    text.value = line.text;
    const save = async () => {
      try {
        await api.post(`/api/lines/${line.id}/review`, {action: 'correct', text: text.value, client_id: uuid4()});
        show(await api.get(`/api/pages/${pageId}`));
        announce('Text saved.');
      } catch (error) {
        showError(error.message);
      }
    };
    replace(editor,
      h('h2', {}, `Line ${line.reading_order + 1}`),
      h('p', {class: 'muted'}, `${STATE_NAMES[line.state]}${line.human ? '' : line.text ? ', the model\'s reading' : ''}${line.leased ? ', a labeler is working on it' : ''}`),
      h('img', {class: 'crop', src: line.image_url, alt: `Line ${line.reading_order + 1}`}),
      h('label', {for: 'page-line-text'}, 'Text'),
      text,
      h('button', {type: 'button', class: 'primary', onclick: save}, 'Save text'));
  }

  function drawOrder() {
    let dragged = null;
    const move = (index, delta) => {
      const ids = data.lines.map((line) => line.id);
      const target = index + delta;
      if (target < 0 || target >= ids.length) return;
      [ids[index], ids[target]] = [ids[target], ids[index]];
      setOrder(ids);
    };
    replace(order, data.lines.map((line, index) => {
      const item = h('li', {draggable: 'true', dataset: {lineId: String(line.id)}},
        h('span', {class: 'order-text', dir: 'auto'}, line.text || h('span', {class: 'muted'}, `line ${index + 1}, no text yet`)),
        h('button', {type: 'button', class: 'link', 'aria-label': `Move line ${index + 1} up`, disabled: index === 0, onclick: () => move(index, -1)}, '↑'),
        h('button', {type: 'button', class: 'link', 'aria-label': `Move line ${index + 1} down`, disabled: index === data.lines.length - 1, onclick: () => move(index, 1)}, '↓'));
      item.addEventListener('dragstart', () => { dragged = index; });
      item.addEventListener('dragover', (event) => event.preventDefault());
      item.addEventListener('drop', (event) => {
        event.preventDefault();
        if (dragged === null || dragged === index) return;
        const ids = data.lines.map((other) => other.id);
        const [moved] = ids.splice(dragged, 1);
        ids.splice(index, 0, moved);
        setOrder(ids);
      });
      item.addEventListener('click', (event) => {
        if (event.target.tagName !== 'BUTTON') select(line.id);
      });
      return item;
    }));
  }

  // Cutting the page again with other settings, on the worker: lines nobody typed
  // on are replaced; typed ones keep their text on the new line over them.
  function resegmentForm() {
    const field = (name, label, attrs) => h('p', {}, h('label', {for: `seg-${name}`}, label), ' ',
      h('input', {id: `seg-${name}`, name, type: 'number', ...attrs}));
    const form = h('form', {class: 'resegment'},
      h('p', {}, h('label', {for: 'seg-method'}, 'Method'), ' ', h('select', {id: 'seg-method', name: 'method'})),
      field('min_contrast', 'Ink contrast (gray levels)', {min: 1, max: 255}),
      field('padding', 'Padding around a line (px)', {min: 0, max: 100}),
      field('split_ratio', 'Split touching lines at valleys below (0–1)', {min: 0, max: 1, step: 0.05}),
      h('p', {}, h('label', {}, h('input', {type: 'checkbox', name: 'deskew', checked: true}), ' Straighten a skewed page')),
      h('button', {type: 'submit'}, 'Re-segment this page'));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const settings = {deskew: form.elements.deskew.checked};
      for (const name of ['min_contrast', 'padding', 'split_ratio']) settings[name] = Number(form.elements[name].value);
      try {
        const job = await api.post(`/api/pages/${pageId}/resegment`, {settings, method: form.elements.method.value});
        announce('Re-segmentation queued; the page is redrawn when the worker is done.', {timeout: 8000});
        const done = await poll(`/api/resegment-jobs/${job.id}`, {every: 1500, done: (value) => ['succeeded', 'failed'].includes(value.status)});
        if (done.status === 'failed') return showError(`The re-segmentation failed: ${done.error}`);
        const [report] = done.report.pages;
        show(await api.get(`/api/pages/${pageId}`));
        announce(report?.skipped
          ? `Not re-segmented: ${report.skipped}.`
          : `Re-segmented: ${report.lines_after} lines (was ${report.lines_before}); ${report.texts_kept} texts kept on new lines, ${report.lines_kept} typed lines kept as they were.`, {timeout: 8000});
      } catch (error) {
        showError(error.message);
      }
    });
    return h('details', {}, h('summary', {}, 'Re-segment the page'), form);
  }

  function setOrder(ids) {
    change(api.put(`/api/pages/${pageId}/reading-order`, {ids}), 'Reading order saved.');
  }

  function removeLine() {
    const [id] = selected;
    selected = [];
    change(api.delete(`/api/lines/${id}`), 'Line deleted.');
  }

  function merge() {
    const [first, ...others] = selected;
    selected = [first];
    change(api.post(`/api/lines/${first}/merge`, {ids: others}), 'Lines merged.');
  }

  // Drawing a box: press, drag, release on the page.
  let start = null;
  let preview = null;
  overlay.addEventListener('pointerdown', (event) => {
    if (mode !== 'draw') return;
    start = pagePoint(event);
    preview = svg('rect', {class: 'draw-preview', x: start[0], y: start[1], width: 0, height: 0});
    overlay.append(preview);
    overlay.setPointerCapture(event.pointerId);
  });
  overlay.addEventListener('pointermove', (event) => {
    if (!start || !preview) return;
    const [x, y] = pagePoint(event);
    preview.setAttribute('x', String(Math.min(x, start[0])));
    preview.setAttribute('y', String(Math.min(y, start[1])));
    preview.setAttribute('width', String(Math.abs(x - start[0])));
    preview.setAttribute('height', String(Math.abs(y - start[1])));
  });
  overlay.addEventListener('pointerup', (event) => {
    if (!start) return;
    const [x, y] = pagePoint(event);
    const box = [Math.min(x, start[0]), Math.min(y, start[1]), Math.max(x, start[0]), Math.max(y, start[1])];
    start = null;
    preview?.remove();
    preview = null;
    setMode('select');
    if (box[2] - box[0] < 4 || box[3] - box[1] < 4) return;
    change(api.post(`/api/pages/${pageId}/lines`, {box}), 'Line drawn.');
  });

  function show(page) {
    const first = data === null;
    data = page;
    selected = selected.filter((id) => lineOf(id));
    heading.textContent = `Page ${page.number} of ${page.document_name}`;
    where.textContent = `${page.lines.length} line${page.lines.length === 1 ? '' : 's'} · ${page.width} × ${page.height} px`;
    if (first) image.src = page.image_url;
    if (first) {
      // The form starts at the segmenter's own defaults, so only what the user changes is sent as a change.
      // The project's method first; one not installed here is shown, not offered.
      const method = side.querySelector('form.resegment select[name="method"]');
      method.replaceChildren(...(page.segmentation_methods || []).map((m) => h('option', {
        value: m.name, disabled: !m.available, selected: m.name === page.segmentation_method, title: m.description,
      }, m.available ? m.name : `${m.name} (not installed here)`)));
      for (const [name, value] of Object.entries(page.segment_defaults || {})) {
        const input = side.querySelector(`form.resegment [name="${name}"]`);
        if (input && input.type === 'checkbox') input.checked = Boolean(value);
        else if (input) input.value = String(value);
      }
    }
    layout();
    drawLines();
    drawOrder();
    showEditor();
  }

  replace(main, heading, where, legend, toolbar,
    h('div', {class: 'page-view'}, frame, side),
    h('p', {}, h('a', {href: `/projects/${project.id}/documents`}, 'Back to the documents')));
  setMode('select');
  try {
    show(await api.get(`/api/pages/${pageId}`));
  } catch (error) {
    replace(main, h('h1', {}, 'Page'), h('p', {class: 'error'}, error.message));
  }
}
