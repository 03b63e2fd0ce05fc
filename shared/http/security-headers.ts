/**
 * The security headers of every response, in two sets: one for the API, one for the pages a browser renders
 * (the dashboard at `/` and `/app/*`, the docs at `/docs`, `/docs/*` and the problem pages at `/problems/*`).
 *
 *   response.writeHead(200, { ...pageSecurityHeaders, 'content-type': 'text/html; charset=utf-8' });
 *
 * The dashboard keeps tokens in sessionStorage and has one-click Delete and Rotate buttons, so its pages run no
 * inline script (an injected one could read the tokens), load nothing from another origin, and may not be
 * framed (no clickjacking). Styles set from script through `element.style` are not inline styles to a CSP, so
 * `style-src 'self'` is enough for the dashboard, uPlot and Swagger UI. `data:` images are the favicon and
 * Swagger UI's icons. `connect-src 'self'` covers the API and the Socket.IO relay (ws: on the same host).
 */

/** Every API response: a browser never guesses a type other than the one declared (no JSON run as script). */
export const apiSecurityHeaders: Readonly<Record<string, string>> = Object.freeze({
  'x-content-type-options': 'nosniff',
});

export const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Pages: the API's headers, a strict CSP, no framing (X-Frame-Options for browsers without frame-ancestors), no referrer. */
export const pageSecurityHeaders: Readonly<Record<string, string>> = Object.freeze({
  ...apiSecurityHeaders,
  'content-security-policy': contentSecurityPolicy,
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
});
