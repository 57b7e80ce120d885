// The NHS design system's stylesheet (nhsuk-frontend), for the practice page only: the
// console and the wall keep their own dark theme, so the sheet is adopted by the document
// while this page is mounted and removed when it goes. A constructed stylesheet is not an
// inline <style>, so it runs under the server's strict CSP (style-src 'self'), and it
// needs no build step that would choke on the sheet's old `@media screen\0` hack.

/**
 * The sheet as this page uses it: without its @font-face rules (Frutiger is served from an
 * NHS CDN that the CSP does not allow and this network cannot reach; the sheet's own
 * fallback, Arial, is used), and with the app's dark page settings put back to the NHS's.
 */
export function prepareNhsCss(css: string): string {
  const withoutFonts = css.replace(/@font-face\s*\{[^}]*\}/g, '');
  // app.css sets these on :root for the dark dashboard; equal specificity, later sheet wins.
  const page = ':root{color-scheme:light;background:#f0f4f5;color:#212b32;font-size:100%;line-height:normal;font-family:"Frutiger W01",arial,sans-serif}';
  return `${withoutFonts}\n${page}\n`;
}

/** Adopts the NHS sheet into `doc`; resolves to the function that removes it again. */
export async function adoptNhsStyles(doc: Document): Promise<() => void> {
  const { default: css } = await import('nhsuk-frontend/dist/nhsuk/nhsuk-frontend.min.css?raw');
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(prepareNhsCss(css));
  doc.adoptedStyleSheets = [...doc.adoptedStyleSheets, sheet];
  return () => {
    doc.adoptedStyleSheets = doc.adoptedStyleSheets.filter((s) => s !== sheet);
  };
}
