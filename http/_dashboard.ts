/**
 * The dashboard `GET /` serves: one self-contained page, its styles and
 * script inline, with nothing fetched but Pulse's own API.
 *
 * The page is written as real files in `dashboard/` (`index.html`,
 * `style.css`, `app.js`), so that fmt, lint and type checks see them. They
 * are imported as text, which ships them inside the package and needs no
 * file access at run time, and joined here once, when the module loads.
 *
 * - A header with the server's samples, series and ingest rate, and a token
 *   field (kept in `localStorage`) for servers that ask for one.
 * - A filterable list of series, virtualized: only the rows in view exist,
 *   so tens of thousands of series scroll smoothly. A click charts one.
 * - A pattern box: each pattern added gets a chart of up to 10 series.
 * - Time presets (15 min, 1 h, 24 h, 7 d) and a custom range.
 * - SVG line charts with time and value axes, a legend with each series'
 *   latest sample exactly (`1,280,720,896`), and the values under the
 *   pointer. Series of another unit (bytes, bytes a second, percent, known
 *   from the key's last segments) or of a magnitude over ten times apart get
 *   panels of their own, one above the other; a pattern that matches
 *   nothing says so.
 * - A refresh every 5 s, paused while the tab is hidden.
 *
 * The page's state lives in the URL's hash, so that a view can be
 * bookmarked: `#range=1h&p=palm.*&p=eardrum.*`, or `#from=...&to=...&p=...`
 * for a custom range in Unix seconds. Each chart carries its range and step
 * as `data-from`, `data-to` and `data-step`, and `<body>` counts completed
 * refreshes in `data-refreshes`.
 *
 * @module
 */

import PAGE from "./dashboard/index.html" with { type: "text" };
import STYLE from "./dashboard/style.css" with { type: "text" };
import SCRIPT from "./dashboard/app.js" with { type: "text" };

/**
 * Puts `content` in place of the one `tag` of `page`, in `element`.
 *
 * @throws {SyntaxError} If `page` has no `tag`, or `content` would end the
 * element early.
 */
function inline(
  page: string,
  tag: string,
  element: "style" | "script",
  content: string,
): string {
  if (!page.includes(tag)) {
    throw new SyntaxError(`Cannot inline into index.html: it has no ${tag}`);
  }
  if (content.toLowerCase().includes(`</${element}`)) {
    throw new SyntaxError(`Cannot inline a ${element} holding </${element}`);
  }
  // A function, so that `$&` and the like in the content stay as they are.
  return page.replace(tag, () => `<${element}>\n${content}</${element}>`);
}

/** The dashboard page. */
export const DASHBOARD_HTML: string = inline(
  inline(PAGE, '<link rel="stylesheet" href="style.css">', "style", STYLE),
  '<script src="app.js"></script>',
  "script",
  SCRIPT,
);
