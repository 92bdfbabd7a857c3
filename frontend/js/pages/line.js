// One line as it stands (a search hit links here): where it is, its crop and the
// page around it, its current text and the model's reading. Claims nothing.

import {api} from '../api.js';
import {reading} from '../confidence.js';
import {h, percent, replace} from '../dom.js';

export async function render(main, {project}) {
  const lineId = Number(window.location.pathname.split('/').pop());
  let data;
  try {
    data = await api.get(`/api/lines/${lineId}`);
  } catch (error) {
    replace(main, h('h1', {}, 'Line'), h('p', {class: 'error'}, error.message));
    return;
  }
  const {line, transcription, prediction, source} = data;
  const where = [line.document, line.page ? `page ${line.page}` : null, line.external_id ? `id ${line.external_id}` : null];
  replace(main,
    h('h1', {}, `Line ${line.id}`),
    h('p', {class: 'muted'}, where.filter(Boolean).join(' · ')),
    h('div', {class: 'crop-frame'}, h('img', {class: 'crop', src: line.image_url, alt: `Line ${line.id}`, width: line.width, height: line.height})),
    h('dl', {class: 'line-detail'},
      h('dt', {}, 'Text'),
      h('dd', {class: 'line-text', dir: 'auto'}, transcription ? transcription.text : h('span', {class: 'muted'}, 'none yet')),
      transcription ? [h('dt', {}, 'Status'), h('dd', {}, `${source}, ${transcription.status}`)] : null,
      prediction
        ? [h('dt', {}, 'Model'), h('dd', {}, reading(prediction.text, prediction.char_confidences), ` (${percent(prediction.confidence, 0)} sure)`)]
        : null),
    line.context_url ? h('figure', {}, h('img', {class: 'context', src: line.context_url, alt: `The page around line ${line.id}`}),
      h('figcaption', {class: 'muted'}, 'The page around the line')) : null,
    h('p', {}, h('a', {href: `/projects/${project.id}/search`}, 'Back to search')));
}
