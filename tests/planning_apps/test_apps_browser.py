"""The three planning apps in a real Chromium (1366 × 768, offline): select a district or a
school, see chart and table change, export the table (Excel via Playwright download → openpyxl,
CSV) and the chart (PNG). Content is checked as rendered in the browser."""

from __future__ import annotations

import io

import pytest
from app_server import JS_SNAPSHOT, wait_ready
from openpyxl import load_workbook

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def snapshot(page) -> dict:
    return page.evaluate(JS_SNAPSHOT)


def wait_changed(page, before: dict, *, selected: str | None = None, charts: bool = True,
                 text: str | None = None, timeout: float = 30_000) -> dict:
    """Wait until the charts' images and the table differ from ``before`` (and show ``selected``)."""
    page.wait_for_function(
        """([before, selected, charts, text]) => {
             const imgs = [...document.querySelectorAll('.bif-chart img')];
             const box = document.querySelector('.bif-table-html') || {};
             const table = box.innerText || '';
             const sel = [...document.querySelectorAll('tr.bif-selected td')].map(td => td.innerText).join(' ');
             const chartsOk = !charts || imgs.every((img, i) => img.src && img.src !== before.charts[i] && img.complete);
             const selOk = selected === null || sel.includes(selected);
             const textOk = text === null || table.includes(text);
             return chartsOk && selOk && textOk && (box.innerHTML || '') !== before.html;
           }""", arg=[before, selected, charts, text], timeout=timeout)
    return snapshot(page)


def download(page, link_text: str, scope: str = ".bif-downloads") -> bytes:
    with page.expect_download() as info:
        page.locator(scope).get_by_text(link_text, exact=False).first.click()
    path = info.value.path()
    assert info.value.suggested_filename
    return open(path, "rb").read()


def selected_option(page, css: str) -> str:
    """Text of the chosen option of a dropdown (ipywidgets writes spaces as no-break spaces)."""
    return page.locator(f"{css} select").evaluate("s => s.options[s.selectedIndex].text").replace("\xa0", " ")


def read_xlsx(data: bytes) -> list[tuple]:
    return list(load_workbook(io.BytesIO(data)).worksheets[0].values)


def check_page_basics(page) -> None:
    assert not page.external_requests, f"requests leaving the intranet: {page.external_requests}"
    # one executed copy for every planner, no kernel of their own (apps.shared_view)
    assert page.evaluate("() => document.body.dataset.bifMode") == "shared"
    # the planning apps need nothing beyond BIF's app front end (the fast one)
    assert page.evaluate("() => !!document.querySelector('script[src*=\"/bif-app.js\"]')"
                         " && !document.querySelector('script[src*=\"voila.js\"]')")
    width = page.evaluate("() => document.querySelector('.bif-app').getBoundingClientRect().right")
    assert width <= 1366, "app wider than a 1366 px screen"
    assert page.locator(".bif-badge-synthetic").first.is_visible()
    assert page.get_by_text("Daten & Qualität").first.is_visible()
    assert_no_icon_font(page, "\u25b8")


def assert_no_icon_font(page, caret: str) -> None:
    """The accordion's caret is drawn in the page's font: no font file is loaded for it."""
    shown = page.evaluate("() => getComputedStyle(document.querySelector("
                          "'.jupyter-widget-Collapse-header > .fa'), '::before').content")
    assert shown == f'"{caret}"'
    fonts = page.evaluate("() => performance.getEntriesByType('resource').map(e => e.name)"
                          ".filter(n => /[.](woff2?|ttf|otf|eot)([?#]|$)/.test(n))")
    assert fonts == []


def test_bevoelkerung(app_server, page):
    page.goto(app_server.app_url("bevoelkerung"))
    wait_ready(page, "#bif-vergleich")
    check_page_basics(page)
    start = snapshot(page)
    assert "Altstadt" in start["table"] and "99.341" in start["table"]  # German thousands separator
    assert start["selected"] == []
    # the single-age table left the statistics office protected, and the panel says so
    page.get_by_text("Daten & Qualität").first.click()
    assert_no_icon_font(page, "\u25be")  # open
    assert page.locator(".bif-dataset", has_text="Einzelalter").get_by_text("geschützt (Cell-Key-Verfahren)",
                                                                         exact=False).count() == 1

    # click a district in the map: dropdown, table row, time series and pyramid follow
    page.locator(".bif-district-map path.leaflet-interactive").nth(4).click(force=True)
    after_click = wait_changed(page, start, selected="")
    name = after_click["selected"][1]
    assert selected_option(page, ".bif-district-select") == name
    assert page.get_by_text(f"Ausgewählt: {name}").is_visible()

    # choose another district in the dropdown
    other = "Mürwik" if name != "Mürwik" else "Tarup"
    page.locator(".bif-district-select select").select_option(label=other)
    after_select = wait_changed(page, after_click, selected=other)
    assert after_select["selected"][1] == other

    # another year: the comparison table follows (no chart of the year in the time series: table only)
    page.locator(".bif-year select").select_option(label="2021")
    wait_changed(page, after_select, charts=False, text="Wert 2021")

    # exports: Excel with German headers, chart as PNG
    rows = read_xlsx(download(page, "Excel"))
    assert rows[0][:3] == ("Nr.", "Stadtteil", "Wert 2021")
    assert len(rows) == 15 and rows[-1][1] == "Gesamtstadt" and other in [r[1] for r in rows]
    png = download(page, "PNG speichern", scope=".bif-chart")
    assert png.startswith(b"\x89PNG")
    assert not page.external_requests


def test_schulbedarf(app_server, page):
    page.goto(app_server.app_url("schulbedarf"))
    wait_ready(page, "#bif-schultabelle")
    check_page_basics(page)
    start = snapshot(page)
    assert "Schule Ramsharde" in start["table"] and "Schätzung" in start["table"]

    page.locator(".bif-school-select select").select_option(label="Schule Ramsharde")
    years = wait_changed(page, start, text="Schule Ramsharde: Schüler und Kapazität je Jahr")
    assert "Klassenräume" in years["table"]

    # the planner edits the capacity: 6 streams -> 6 x 4 x 25 = 600 places, marked as input
    row = page.locator(".bif-capacity-row", has_text="Schule Ramsharde")
    row.locator("input").first.fill("6")
    row.locator("input").first.press("Enter")
    edited = wait_changed(page, years, text="600")
    assert row.get_by_text("Eingabe").is_visible()
    assert "600" in edited["table"]

    # a district narrows the school list; a school point in the map selects that school
    page.locator(".bif-district-select select").select_option(label="Mürwik")
    page.wait_for_function("() => document.querySelector('.bif-school-select select').options.length == 2")
    page.locator(".bif-school-select select").select_option(index=0)
    overview = wait_changed(page, edited, text="Grundschule Friedheim")
    assert "Schule Ramsharde" not in overview["table"]

    rows = read_xlsx(download(page, "Excel"))
    assert rows[0][0] == "Schule" and "Plätze" in rows[0] and rows[1][0] == "Grundschule Friedheim"
    assert len(rows) == 2

    # click a school in the map (points are drawn after the district areas)
    page.locator(".bif-district-map path.leaflet-interactive").last.dispatch_event("click")
    clicked = wait_changed(page, overview, text="je Jahr")
    school = selected_option(page, ".bif-school-select")
    assert school in clicked["table"] and not school.startswith("–")


def test_kita(app_server, page):
    page.goto(app_server.app_url("kita"))
    wait_ready(page, "#bif-kitatabelle")
    check_page_basics(page)
    start = snapshot(page)
    assert "Gesamtstadt" in start["table"] and "unter 3 Jahre" in start["table"]

    # select a district by clicking its area (dispatched on the polygon: Kita points may cover its centre)
    page.locator(".bif-district-map path.leaflet-interactive").nth(2).dispatch_event("click")
    clicked = wait_changed(page, start, selected="")
    name = clicked["selected"][1]
    assert selected_option(page, ".bif-district-select") == name

    page.locator(".bif-band").get_by_text("3 Jahre bis Schuleintritt").click()
    wait_changed(page, clicked, text="3 Jahre bis Schuleintritt", selected=name)

    csv = download(page, "CSV").decode("utf-8-sig").splitlines()
    assert csv[0] == "Nr.;Stadtteil;Kinder;Plätze;Versorgungsquote (%);Betreuungsquote (%);Bedarf;Saldo (Plätze − Bedarf);Status"
    assert len(csv) == 15 and csv[-1].startswith(";Gesamtstadt;")
    quota = csv[1].split(";")[4]
    assert "," in quota and "." not in quota  # decimal comma
    rows = read_xlsx(download(page, "Excel"))
    assert rows[0][1] == "Stadtteil" and rows[-1][1] == "Gesamtstadt"
