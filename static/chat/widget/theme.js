// A merchant's theme colour on the widget: the text colour readable on it and a link colour readable
// on white (WCAG contrast), so any colour an owner picks keeps the chat legible. Used by the widget
// frame and by the admin's widget editor preview.
export const isColor = (value) => /^#[0-9a-f]{6}$/i.test(value || "");

function luminance(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
    .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

export function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

export const DARK_TEXT = "#1b1f24";
export const DEFAULT_COLOR = "#0b5cad";

export function textOn(hex) {
  return contrast(hex, "#ffffff") >= contrast(hex, DARK_TEXT) ? "#ffffff" : DARK_TEXT;
}

export function linkOnWhite(hex) {
  return contrast(hex, "#ffffff") >= 4.5 ? hex : DEFAULT_COLOR;
}

export function applyTheme(element, hex) {
  if (!isColor(hex)) return;
  element.style.setProperty("--primary", hex);
  element.style.setProperty("--mine", hex);
  element.style.setProperty("--on-primary", textOn(hex));
  element.style.setProperty("--link", linkOnWhite(hex));
}
