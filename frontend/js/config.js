// Knobs of the UI, with their defaults. A test (or a deployment) may set
// `window.lineproofConfig = {labelMinShowMs: ...}`; it is read at each use,
// so a change takes effect from the next line on.

const DEFAULTS = Object.freeze({
  // Enter (and Alt+S) count for a line only once its image has been painted
  // and on screen this long: a second, quick Enter never acts on a line
  // nobody has seen.
  labelMinShowMs: 300,
  // How many of your latest lines the labeling page lists (and Alt+B walks).
  labelRecentLines: 10,
});

/** The knobs, each read through to `window.lineproofConfig` when set there. */
export const config = Object.freeze(
  Object.defineProperties(
    {},
    Object.fromEntries(
      Object.keys(DEFAULTS).map((key) => [
        key,
        {enumerable: true, get: () => globalThis.lineproofConfig?.[key] ?? DEFAULTS[key]},
      ]),
    ),
  ),
);
