"""Basic accessibility checks of the page a browser test is on.

axe-core (bundled by the ``axe-playwright-python`` package, nothing fetched at run time)
checks the WCAG 2.1 A and AA rules it can decide automatically; the checks written out
here pin down what the floor relies on even where axe only warns: a label on every
field, the landmarks, and a focus indicator that keyboard users can see.
"""

from __future__ import annotations

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

AXE_RULES = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}

UNLABELLED_FIELDS = """() => {
  const named = (el) => {
    const labelled = Array.from(el.labels || []).some((label) => label.textContent.trim());
    const byAria = (el.getAttribute("aria-labelledby") || "").split(/\\s+/).filter(Boolean)
      .some((id) => document.getElementById(id)?.textContent.trim());
    return labelled || byAria || (el.getAttribute("aria-label") || "").trim() !== "";
  };
  return Array.from(document.querySelectorAll("input, select, textarea"))
    .filter((el) => el.type !== "hidden" && el.checkVisibility())
    .filter((el) => !named(el))
    .map((el) => el.outerHTML.slice(0, 120));
}"""


def assert_accessible(page: Page, *, logged_in: bool = True) -> None:
    """Landmarks, a label on every visible field, and no axe violation."""
    expect(page.get_by_role("main")).to_have_count(1)
    expect(page.get_by_role("banner")).to_have_count(1)
    if logged_in:
        expect(page.get_by_role("navigation", name="Main")).to_have_count(1)
    assert page.evaluate(UNLABELLED_FIELDS) == [], f"fields without a label on {page.url}"
    results = Axe().run(page, options=AXE_RULES)
    assert results.violations_count == 0, f"{page.url}\n{results.generate_report()}"


# A focus indicator is the outline or box shadow that focus adds: each focusable
# element's look is noted while nothing has focus, then compared with its look when
# the keyboard (Tab) focuses it, which is what :focus-visible styles apply to. The
# indicator must also stand out from what is behind it: at least 3:1 (WCAG 1.4.11),
# its colour blended over the nearest background colour of the element's ancestors.
MIN_FOCUS_CONTRAST = 3

NOTE_UNFOCUSED_LOOKS = """() => {
  document.activeElement?.blur();
  const look = (el) => { const s = getComputedStyle(el);
    return [s.outlineStyle, s.outlineWidth, s.outlineColor, s.boxShadow].join(" "); };
  window.__e2eLook = look;
  window.__e2eUnfocused = new Map();
  for (const el of document.querySelectorAll("*")) window.__e2eUnfocused.set(el, look(el));
}"""

FOCUSED_ELEMENT = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const element = el.outerHTML.slice(0, 100);
  // Focus on a part the browser draws inside a field (a date field's calendar button)
  // leaves the field itself unmatched by :focus; the browser rings that part itself.
  if (!el.matches(":focus")) return {element, contrast: null, changed: true};
  const colours = (text) => Array.from(text.matchAll(/rgba?\\(([^)]+)\\)/g),
    (m) => m[1].split(",").map(Number));
  const over = ([r, g, b, a = 1], under) =>
    [r, g, b].map((c, i) => c * a + under[i] * (1 - a));
  const linear = (c) => (c /= 255) <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  const luminance = (rgb) => {
    const [r, g, b] = rgb.map(linear);
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const contrast = (x, y) => { const [a, b] = [luminance(x), luminance(y)].sort((p, q) => q - p);
    return (a + 0.05) / (b + 0.05); };
  let behind = [255, 255, 255];
  for (let node = el.parentElement; node; node = node.parentElement) {
    const [colour] = colours(getComputedStyle(node).backgroundColor);
    if (colour && (colour[3] ?? 1) > 0) { behind = over(colour, behind); break; }
  }
  const s = getComputedStyle(el);
  const drawn = s.boxShadow === "none" ? [] : colours(s.boxShadow);
  if (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0) {
    drawn.push(...colours(s.outlineColor));
  }
  const best = Math.max(0, ...drawn.map((colour) => contrast(over(colour, behind), behind)));
  return {element, contrast: Math.round(best * 100) / 100,
          changed: window.__e2eLook(el) !== window.__e2eUnfocused.get(el)};
}"""


def focus_is_visible(stop: dict) -> bool:
    return stop["changed"] and (stop["contrast"] is None or stop["contrast"] >= MIN_FOCUS_CONTRAST)


def tab_through(page: Page, *, stops: int) -> list[dict]:
    """Press Tab ``stops`` times from the top of the page; what each press focused."""
    page.evaluate(NOTE_UNFOCUSED_LOOKS)
    focused = []
    for _ in range(stops):
        page.keyboard.press("Tab")
        element = page.evaluate(FOCUSED_ELEMENT)
        if element is None:  # wrapped past the end of the page
            break
        focused.append(element)
    return focused
