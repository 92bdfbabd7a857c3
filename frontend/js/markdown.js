// A small, safe Markdown subset for a project's transcription guidelines:
// headings (#, ##, ###), paragraphs, bullet and numbered lists, **bold**,
// *italic*, `code` and [links](https://...). Everything becomes DOM nodes built
// with h() and text nodes, never HTML, so a guideline cannot inject markup; a
// link is kept only for http(s), mailto or a same-site path.

import {h} from './dom.js';

const SAFE_HREF = /^(https?:\/\/|mailto:|\/(?!\/))/i;
// `code`, **bold**, *italic* or _italic_, [text](href); the first match wins.
const INLINE = /`([^`]+)`|\*\*(.+?)\*\*|\*([^*\s][^*]*?)\*|_([^_\s][^_]*?)_|\[([^\]]+)\]\(([^)\s]+)\)/;

/** Inline Markdown of one block of text as nodes. */
export function inline(text) {
  const out = [];
  let rest = text;
  while (rest) {
    const match = INLINE.exec(rest);
    if (!match) {
      out.push(rest);
      break;
    }
    if (match.index) out.push(rest.slice(0, match.index));
    const [whole, code, bold, italic, italicUnderscore, linkText, href] = match;
    if (code !== undefined) out.push(h('code', {}, code));
    else if (bold !== undefined) out.push(h('strong', {}, inline(bold)));
    else if (italic !== undefined || italicUnderscore !== undefined) out.push(h('em', {}, inline(italic ?? italicUnderscore)));
    else if (SAFE_HREF.test(href)) out.push(h('a', {href, rel: 'noopener noreferrer', target: '_blank'}, inline(linkText)));
    else out.push(linkText);
    rest = rest.slice(match.index + whole.length);
  }
  return out;
}

/** The Markdown `source` as a list of block nodes. */
export function markdown(source) {
  const blocks = [];
  let paragraph = [];
  let list = null;
  const flush = () => {
    if (paragraph.length) blocks.push(h('p', {}, inline(paragraph.join(' '))));
    paragraph = [];
    if (list) blocks.push(list);
    list = null;
  };
  for (const raw of String(source || '').split(/\r?\n/)) {
    const line = raw.trim();
    const heading = /^(#{1,3})\s+(.*)$/.exec(line);
    const bullet = /^[-*+]\s+(.*)$/.exec(line);
    const numbered = /^\d+[.)]\s+(.*)$/.exec(line);
    if (!line) {
      flush();
    } else if (heading) {
      flush();
      blocks.push(h(`h${heading[1].length + 2}`, {}, inline(heading[2])));
    } else if (bullet || numbered) {
      if (paragraph.length) {
        blocks.push(h('p', {}, inline(paragraph.join(' '))));
        paragraph = [];
      }
      const tag = bullet ? 'ul' : 'ol';
      if (!list || list.tagName.toLowerCase() !== tag) {
        if (list) blocks.push(list);
        list = h(tag);
      }
      list.append(h('li', {}, inline((bullet || numbered)[1])));
    } else {
      if (list) {
        blocks.push(list);
        list = null;
      }
      paragraph.push(line);
    }
  }
  flush();
  return blocks;
}

/**
 * The project's guidelines as a collapsible panel (open by default), or
 * null when the project has none: shown beside the labeling field and in review.
 */
export function guidelinesPanel(guidelines, {open = true} = {}) {
  if (!guidelines || !guidelines.trim()) return null;
  return h(
    'details',
    {class: 'guidelines', open, 'aria-label': 'Transcription guidelines'},
    h('summary', {}, 'Transcription guidelines'),
    h('div', {class: 'guidelines-body'}, markdown(guidelines)),
  );
}
