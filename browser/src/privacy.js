// What may leave the browser (docs/browser.md lists it). Query values are replaced unless the
// page allowed their key; fragments never leave. The intake applies the same rule again, since
// it cannot trust a browser to have run this code.

const URL_KEYS = new Set(['http.url', 'url.full', 'http.target', 'url.query', 'document.referrer']);
export const REDACTED = 'REDACTED';

export function cleanUrl(value, keepQuery) {
  if (typeof value !== 'string') return value;
  const hash = value.indexOf('#');
  const noFragment = hash < 0 ? value : value.slice(0, hash);
  const q = noFragment.indexOf('?');
  if (q < 0) return noFragment;
  const query = noFragment
    .slice(q + 1)
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const key = eq < 0 ? pair : pair.slice(0, eq);
      return eq < 0 || keepQuery.has(key) ? pair : `${key}=${REDACTED}`;
    })
    .join('&');
  return `${noFragment.slice(0, q)}?${query}`;
}

// Stack traces and messages carry the page's URLs too.
export function cleanText(value, keepQuery) {
  if (typeof value !== 'string') return value;
  return value.replace(/\bhttps?:\/\/[^\s)'"]+/g, (url) => cleanUrl(url, keepQuery));
}

export function cleanAttributes(attributes, keepQuery) {
  const out = {};
  for (const [key, value] of Object.entries(attributes || {})) {
    if (URL_KEYS.has(key)) out[key] = cleanUrl(value, keepQuery);
    else if (typeof value === 'string') out[key] = cleanText(value, keepQuery);
    else out[key] = value;
  }
  return out;
}
