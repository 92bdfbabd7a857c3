// What each role may open.

export const REVIEW_ROLES = new Set(['reviewer', 'admin']);

/** The pages of one project a member with `role` may open, in menu order. */
export function projectPages(role) {
  const pages = [['label', 'Label']];
  if (REVIEW_ROLES.has(role)) pages.push(['review', 'Review']);
  pages.push(['models', 'Models']);
  if (role === 'admin') pages.push(['import', 'Import']);
  return pages;
}
