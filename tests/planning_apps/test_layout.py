"""The planning apps' layout at the widths planners' screens have (1280–1920 px), in a real
Chromium through the platform (hub, gateway, Voilà, BIF's app front end):

* no table column cut off: every cell lies inside every box that clips it, and no table box
  scrolls sideways;
* every row visible without an inner scroll box (the Gesamtstadt row included);
* dropdowns wide enough for their longest option, labels not cut („Einwohnerinnen und Einw…“);
* header texts do not overlap (table headers, the capacity editor's column heads);
* the app title once on the page (app bar, not again in the app).

Screenshots compared with committed references: ``test_visual_regression.py``.
"""

from __future__ import annotations

import pytest
from app_server import wait_ready

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

WIDTHS = (1280, 1366, 1400, 1920)
TABLES = {"bevoelkerung": "#bif-vergleich", "kita": "#bif-kitatabelle", "schulbedarf": "#bif-schultabelle"}
TOTAL_ROW = {"bevoelkerung": "Gesamtstadt", "kita": "Gesamtstadt", "schulbedarf": None}

# The layout problems of the page as it is laid out now (for developers, in English).
JS_LAYOUT_PROBLEMS = r"""
() => {
  const problems = [];
  const app = document.querySelector('.bif-app');
  const visible = el => !!(el.offsetParent || el.getClientRects().length) && getComputedStyle(el).visibility !== 'hidden';
  const label = el => (el.innerText || el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 40);
  // boxes that cut off what lies outside them
  const clippers = el => {
    const out = [];
    for (let p = el.parentElement; p && p !== document.documentElement; p = p.parentElement) {
      const cs = getComputedStyle(p);
      if (cs.overflowX !== 'visible' || cs.overflowY !== 'visible') out.push(p);
    }
    return out;
  };
  const inside = (r, box, slack = 1) => {
    const b = box.getBoundingClientRect();
    const cs = getComputedStyle(box);
    const left = b.left + parseFloat(cs.borderLeftWidth), right = b.left + parseFloat(cs.borderLeftWidth) + box.clientWidth;
    const top = b.top + parseFloat(cs.borderTopWidth), bottom = b.top + parseFloat(cs.borderTopWidth) + box.clientHeight;
    return r.left >= left - slack && r.right <= right + slack && r.top >= top - slack && r.bottom <= bottom + slack;
  };
  const textRect = el => { const range = document.createRange(); range.selectNodeContents(el); return range.getBoundingClientRect(); };
  const overlap = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1 && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1;

  if (document.documentElement.scrollWidth > innerWidth + 1) problems.push(`page scrolls sideways: ${document.documentElement.scrollWidth} > ${innerWidth}`);
  if (app.getBoundingClientRect().right > innerWidth + 1) problems.push('app wider than the window');

  // tables: every cell inside every clipping box, no scroll box, headers not overlapping
  for (const table of app.querySelectorAll('.bif-table table')) {
    const name = table.closest('.bif-table').id || label(table.closest('.bif-table').querySelector('.bif-table-title') || table);
    const box = table.closest('.bif-table-scroll');
    if (box && box.scrollWidth > box.clientWidth + 1) problems.push(`${name}: table box scrolls sideways (${box.scrollWidth} > ${box.clientWidth})`);
    if (box && box.scrollHeight > box.clientHeight + 1) problems.push(`${name}: rows hidden in a scroll box (${box.scrollHeight} > ${box.clientHeight})`);
    const clips = clippers(table);
    const cut = new Set();
    for (const cell of table.querySelectorAll('th, td')) {
      const r = cell.getBoundingClientRect();
      if (r.right > innerWidth + 1) cut.add(`${label(table.rows[0].cells[cell.cellIndex] || cell)} (beyond the window)`);
      for (const clip of clips) {
        if (!inside(r, clip)) { cut.add(`${label(table.rows[0].cells[cell.cellIndex] || cell)} / row ${cell.parentElement.rowIndex}`); break; }
      }
    }
    if (cut.size) problems.push(`${name}: cells cut off: ${[...cut].slice(0, 6).join('; ')}`);
    const heads = [...table.querySelectorAll('thead th')];
    for (const th of heads) {
      const t = textRect(th), c = th.getBoundingClientRect();
      if (t.right > c.right + 1 || t.left < c.left - 1) problems.push(`${name}: header „${label(th)}“ wider than its column`);
    }
  }

  // the capacity editor's column heads and any other header row built from boxes
  for (const head of app.querySelectorAll('.bif-cap-head')) {
    let cells = [...head.querySelectorAll('.bif-cap-col')];
    if (!cells.length) cells = [...head.children];
    cells = cells.filter(visible);
    cells.forEach((a, i) => cells.slice(i + 1).forEach(b => {
      if (overlap(textRect(a), textRect(b))) problems.push(`capacity editor: headers „${label(a)}“ and „${label(b)}“ overlap`);
    }));
    for (const cell of cells) {
      const t = textRect(cell), c = (cell.closest('.widget-html') || cell).getBoundingClientRect();
      if (t.right > c.right + 1) problems.push(`capacity editor: header „${label(cell)}“ wider than its column`);
    }
  }

  // dropdowns: the longest option fits; labels not cut with an ellipsis
  const ctx = document.createElement('canvas').getContext('2d');
  for (const select of app.querySelectorAll('select')) {
    if (!visible(select)) continue;
    const cs = getComputedStyle(select);
    ctx.font = `${cs.fontStyle} ${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
    const room = select.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
    for (const option of select.options) {
      const need = ctx.measureText(option.text).width;
      if (need > room + 0.5) { problems.push(`dropdown ${select.closest('.widget-dropdown').className.match(/bif-[\w-]+/g)}: „${option.text.slice(0, 40)}“ needs ${Math.ceil(need)} px, has ${Math.floor(room)}`); break; }
    }
    for (const clip of clippers(select)) {
      if (!inside(select.getBoundingClientRect(), clip)) { problems.push(`dropdown ${label(select.options[select.selectedIndex] || select)}: cut off`); break; }
    }
  }
  for (const el of app.querySelectorAll('.widget-label, .widget-label-basic')) {
    if (visible(el) && el.scrollWidth > el.clientWidth + 1) problems.push(`label „${label(el)}“ cut off`);
  }

  // the app's title once
  const title = (document.querySelector('.bif-appbar-title') || {}).innerText || '';
  const titles = [...document.querySelectorAll('h1, h2, h3, .bif-appbar-title')]
    .filter(el => visible(el) && el.getBoundingClientRect().height > 0 && title && label(el).startsWith(title.trim().slice(0, 40)));
  if (titles.length !== 1) problems.push(`the title „${title}“ appears ${titles.length} times`);
  return problems;
}
"""


@pytest.fixture
def app_page(page):
    yield page
    page.goto("about:blank")  # the app's beforeunload beacon ends its kernel (a person holds at most 5)


# a second view of each app, with other options or other table columns: (control, what the table title then says)
SECOND_VIEW = {"bevoelkerung": (".bif-topic", None),  # the longest topic name and its indicators
               "kita": (".bif-band", "3 Jahre bis Schuleintritt"),  # the other age group
               "schulbedarf": (".bif-school-select", "je Jahr")}  # the longest school name: its table of years


def layout_problems(page, app: str, widths) -> list[str]:
    problems = []
    for width in widths:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(300)  # the map and flex boxes follow the window
        problems += [f"{width} px: {p}" for p in page.evaluate(JS_LAYOUT_PROBLEMS)]
        if TOTAL_ROW[app]:
            last = page.locator(f"{TABLES[app]} tbody tr").last
            if TOTAL_ROW[app] not in last.inner_text() or not last.is_visible():
                problems.append(f"{width} px: the last row is not {TOTAL_ROW[app]} or not visible")
    return problems


def second_view(page, app: str) -> None:
    css, title_part = SECOND_VIEW[app]
    before = page.locator(f"{TABLES[app]} .bif-table-title").inner_text()
    if page.locator(f"{css} select").count():  # a dropdown: its longest option
        select = page.locator(f"{css} select")
        select.select_option(index=select.evaluate(
            "s => [...s.options].reduce((best, o, i, all) => o.text.length > all[best].text.length ? i : best, 0)"))
    else:  # toggle buttons: the last one
        page.locator(f"{css} button").last.click()
    page.wait_for_function(
        "([css, before, part]) => { const t = document.querySelector(css + ' .bif-table-title').innerText;"
        " return t !== before && (!part || t.includes(part)); }",
        arg=[TABLES[app], before, title_part], timeout=30_000)


@pytest.mark.parametrize("app", list(TABLES))
def test_layout_fits_common_screen_widths(app_server, app_page, app):
    page = app_page
    page.goto(app_server.app_url(app))
    wait_ready(page, TABLES[app])
    problems = layout_problems(page, app, WIDTHS)
    second_view(page, app)
    problems += [f"after changing {SECOND_VIEW[app][0]}: {p}"
                 for p in layout_problems(page, app, (WIDTHS[0], WIDTHS[-1]))]
    assert not problems, "\n".join(problems)
