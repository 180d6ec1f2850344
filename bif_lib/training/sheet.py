"""The credentials sheet of a training cohort: one card per participant, to print and cut.

``sheet_html`` is a complete, self-contained German page (inline CSS, no external resources)
with a "Drucken" button; ``sheet_pdf`` draws the same cards with fpdf2. Both put eight cards
on an A4 page (2 columns × 4 rows) with dashed cut lines, and a card never breaks across pages.

A card: platform name, "Zugang zur Schulung <cohort>", Konto, Passwort, Adresse, "Zugang gültig
bis <TT.MM.JJJJ>", how to start, "Schulungsleitung: <trainer>". Account and password are set in
a monospace font whose 0/O and 1/l/I differ, and the digits of the password are coloured
(``generate_password`` already leaves out 0, O, 1, l and I). Every value is escaped: cohort
and trainer names come from users.

The PDF is set in DejaVu Sans and DejaVu Sans Mono, embedded: the copy matplotlib (a BIF
dependency) ships, else the system's (Debian: ``fonts-dejavu-core``). Only without either it
falls back to fpdf's core Helvetica/Courier, which know Latin-1 only (see ``_TRANSLITERATION``).
"""

from __future__ import annotations

import datetime as dt
import html
import importlib.util
import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path

from bif_lib.i18n import format_date
from bif_lib.platform.cohorts import CohortAccount

CARDS_PER_PAGE = 8  # 2 columns x 4 rows on A4
COLUMNS = 2

DIGIT_COLOR = (0x1F, 0x5F, 0xBF)  # blue: digits in a password stand out from letters
SYMBOL_COLOR = (0xB0, 0x3A, 0x2E)  # anything neither letter nor digit


def instruction(notebooks_folder: str) -> str:
    """The short instruction on each card (plain text, not escaped)."""
    return ("Melden Sie sich mit Konto und Passwort an. Ihre Schulungsnotebooks finden Sie "
            f"im Ordner „{notebooks_folder}“.")


def _check(accounts: Sequence[CohortAccount]) -> None:
    if not accounts:
        raise ValueError("Die Schulungsgruppe hat keine Konten: kein Zugangsblatt zu drucken")


def _pages(accounts: Sequence[CohortAccount]) -> Iterator[Sequence[CohortAccount]]:
    for start in range(0, len(accounts), CARDS_PER_PAGE):
        yield accounts[start:start + CARDS_PER_PAGE]


def _password_runs(password: str) -> Iterator[tuple[str, str]]:
    """The password in runs of one kind: ("letter" | "digit" | "symbol", text)."""
    def kind(char: str) -> str:
        if char.isdigit():
            return "digit"
        return "letter" if char.isalpha() else "symbol"

    for run_kind, chars in itertools.groupby(password, key=kind):
        yield run_kind, "".join(chars)


# --- HTML ----------------------------------------------------------------------------------

_CSS = """
@page { size: A4 portrait; margin: 10mm; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0; background: #e8e8e8; color: #1a1a1a;
       font-family: "DejaVu Sans", "Segoe UI", Arial, Helvetica, sans-serif; }
.steuerung { max-width: 190mm; margin: 6mm auto; padding: 4mm 6mm; background: #fff;
             border-radius: 2mm; }
.steuerung h1 { font-size: 15pt; margin: 0 0 2mm; }
.steuerung p { margin: 1mm 0; font-size: 10pt; }
.drucken { font: inherit; font-size: 11pt; padding: 2mm 6mm; margin-top: 2mm; cursor: pointer; }
.seite { width: 190mm; height: 276mm; margin: 0 auto 8mm; background: #fff;
         display: grid; grid-template-columns: repeat(2, 1fr); grid-template-rows: repeat(4, 1fr);
         border-top: 0.3mm dashed #888; border-left: 0.3mm dashed #888; }
.karte { border-right: 0.3mm dashed #888; border-bottom: 0.3mm dashed #888; padding: 5mm 6mm;
         overflow: hidden; break-inside: avoid; page-break-inside: avoid;
         display: flex; flex-direction: column; font-size: 9pt; line-height: 1.3; }
.plattform { margin: 0; font-size: 8pt; color: #555; letter-spacing: 0.02em; }
.karte h2 { margin: 0.5mm 0 2mm; font-size: 12pt; overflow-wrap: anywhere; }
.karte dl { margin: 0; display: grid; grid-template-columns: 19mm 1fr; row-gap: 0.8mm;
            align-items: baseline; }
.karte dt { color: #555; }
.karte dd { margin: 0; overflow-wrap: anywhere; }
.mono { font-family: "DejaVu Sans Mono", Consolas, Menlo, "Liberation Mono", monospace;
        font-variant-numeric: slashed-zero; font-variant-ligatures: none; }
.konto { font-weight: bold; font-size: 11pt; }
.passwort { font-weight: bold; font-size: 13pt; letter-spacing: 0.08em; }
.ziffer { color: rgb(31, 95, 191); }
.zeichen { color: rgb(176, 58, 46); }
.gueltig { margin: 1.5mm 0 0; }
.hinweis { margin: 1.5mm 0 0; font-size: 8pt; }
.leitung { margin: auto 0 0; font-size: 8pt; color: #555; overflow-wrap: anywhere; }
@media print {
  body { background: #fff; }
  .steuerung { display: none; }
  .seite { margin: 0; break-after: page; page-break-after: always; }
  .seite:last-child { break-after: auto; page-break-after: auto; }
}
"""


def _password_html(password: str) -> str:
    classes = {"digit": "ziffer", "symbol": "zeichen"}
    return "".join(
        f'<span class="{classes[kind]}">{html.escape(text)}</span>' if kind in classes else html.escape(text)
        for kind, text in _password_runs(password)
    )


def _card_html(account: CohortAccount, *, cohort: str, login_url: str, valid_until: str,
               platform_name: str, trainer: str, notebooks_folder: str) -> str:
    e = html.escape
    return f"""<article class="karte">
<p class="plattform">{e(platform_name)}</p>
<h2>Zugang zur Schulung {e(cohort)}</h2>
<dl>
<dt>Konto</dt><dd class="mono konto">{e(account.name)}</dd>
<dt>Passwort</dt><dd class="mono passwort">{_password_html(account.password)}</dd>
<dt>Adresse</dt><dd class="adresse">{e(login_url)}</dd>
</dl>
<p class="gueltig">Zugang gültig bis {e(valid_until)}</p>
<p class="hinweis">{e(instruction(notebooks_folder))}</p>
<p class="leitung">Schulungsleitung: {e(trainer)}</p>
</article>"""


def sheet_html(cohort: str, accounts: Sequence[CohortAccount], login_url: str, expires: dt.date,
               platform_name: str, trainer: str, notebooks_folder: str = "Vorlagen/Schulung") -> str:
    """The credentials sheet as one self-contained HTML page (German), to print on A4."""
    _check(accounts)
    e = html.escape
    fields = {"cohort": cohort, "login_url": login_url, "valid_until": format_date(expires),
              "platform_name": platform_name, "trainer": trainer, "notebooks_folder": notebooks_folder}
    pages = "\n".join(
        '<section class="seite">\n' + "\n".join(_card_html(a, **fields) for a in page) + "\n</section>"
        for page in _pages(accounts)
    )
    page_count = -(-len(accounts) // CARDS_PER_PAGE)
    cards = "eine Karte" if len(accounts) == 1 else f"{len(accounts)} Karten"
    pages_text = "eine Seite" if page_count == 1 else f"{page_count} Seiten"
    return f"""<!DOCTYPE html>
<html lang="de">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Zugangsdaten – Schulung {e(cohort)}</title>
<style>{_CSS}</style>
</head>
<body>
<header class="steuerung">
<h1>Zugangsdaten für die Schulung {e(cohort)}</h1>
<p>{cards} auf {pages_text} (A4, je acht Karten). Nach dem Drucken an den gestrichelten Linien
ausschneiden und jeder Person ihre Karte geben.</p>
<p>Im Passwort sind Ziffern blau hervorgehoben. Die Karten enthalten Passwörter: übrig gebliebene
Karten nach der Schulung bitte vernichten.</p>
<button type="button" class="drucken" onclick="window.print()">Drucken</button>
</header>
<main>
{pages}
</main>
</body>
</html>
"""


# --- PDF -------------------------------------------------------------------------------------

PAGE_W, PAGE_H = 210.0, 297.0  # A4 in mm
CARD_W, CARD_H = PAGE_W / COLUMNS, PAGE_H / (CARDS_PER_PAGE // COLUMNS)
PAD_X, PAD_Y = 9.0, 7.0
LABEL_W = 21.0

_FONT_FILES = {  # (family, style) -> DejaVu file; the regular mono face stands in for a missing bold
    ("sans", ""): "DejaVuSans.ttf",
    ("sans", "B"): "DejaVuSans-Bold.ttf",
    ("mono", "B"): "DejaVuSansMono-Bold.ttf",
    ("mono", ""): "DejaVuSansMono.ttf",
}
# Debian/Ubuntu (fonts-dejavu-core), Fedora, Arch, and the copy matplotlib (a BIF dependency) ships
_SYSTEM_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu-sans-fonts",
                     "/usr/share/fonts/dejavu-sans-mono-fonts", "/usr/share/fonts/TTF")


def _font_dirs() -> list[Path]:
    """Where DejaVu may be: matplotlib's own copy first (installed with BIF on every machine, the
    same version everywhere), then the system's font directories."""
    dirs = []
    spec = importlib.util.find_spec("matplotlib")  # without importing matplotlib
    if spec and spec.origin:
        dirs.append(Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf")
    dirs.extend(Path(d) for d in _SYSTEM_FONT_DIRS)
    return dirs


def find_fonts(dirs: Sequence[Path] | None = None) -> dict[tuple[str, str], Path] | None:
    """The DejaVu files the PDF uses (sans regular and bold, mono bold), or None without
    DejaVu Sans or DejaVu Sans Mono. A missing bold face is replaced by the regular one."""
    dirs = _font_dirs() if dirs is None else dirs
    found: dict[tuple[str, str], Path] = {}
    for key, name in _FONT_FILES.items():
        for directory in dirs:
            if (directory / name).is_file():
                found[key] = directory / name
                break
    if ("sans", "") not in found or not (("mono", "B") in found or ("mono", "") in found):
        return None
    found.setdefault(("sans", "B"), found[("sans", "")])
    found.setdefault(("mono", "B"), found.get(("mono", "")))
    found.pop(("mono", ""), None)  # cards set account and password in bold only: not embedded
    return found


# Only for the core-font fallback: fpdf's built-in Helvetica/Courier know Latin-1 only
# (ä ö ü ß are in it), so quotes and dashes outside it are replaced and anything else becomes "?".
_TRANSLITERATION = str.maketrans({"„": '"', "“": '"', "”": '"', "‚": "'", "‘": "'", "’": "'",
                                  "–": "-", "—": "-", "…": "...", "\u00a0": " "})


class _Writer:
    """Draws the cards; knows which fonts it has (DejaVu, or fpdf's core fonts as fallback)."""

    def __init__(self, pdf, fonts: dict[tuple[str, str], Path] | None):
        self.pdf = pdf
        self.unicode = fonts is not None
        if fonts is not None:
            for (family, style), path in fonts.items():
                pdf.add_font(family, style, str(path))
            self.families = {"sans": "sans", "mono": "mono"}
        else:
            self.families = {"sans": "Helvetica", "mono": "Courier"}

    def text(self, value: str) -> str:
        if self.unicode:
            return value
        return value.translate(_TRANSLITERATION).encode("latin-1", "replace").decode("latin-1")

    def font(self, family: str, size: float, bold: bool = False, gray: int | tuple = 0x1A) -> None:
        self.pdf.set_font(self.families[family], "B" if bold else "", size)
        if isinstance(gray, tuple):
            self.pdf.set_text_color(*gray)
        else:
            self.pdf.set_text_color(gray)

    def fit(self, value: str, width: float, family: str, size: float, min_size: float,
            bold: bool = False, gray: int | tuple = 0x1A) -> str:
        """Set the largest font size from ``size`` down to ``min_size`` at which ``value`` fits
        in ``width``; at the smallest, cut it with "…". Returns the text to write."""
        value = self.text(value)
        while True:
            self.font(family, size, bold, gray)
            if self.pdf.get_string_width(value) <= width or size <= min_size:
                break
            size = max(min_size, size - 0.5)
        if self.pdf.get_string_width(value) <= width:
            return value
        ellipsis = "…" if self.unicode else "..."
        while value and self.pdf.get_string_width(value.rstrip() + ellipsis) > width:
            value = value[:-1]
        return value.rstrip() + ellipsis

    def line(self, x: float, y: float, w: float, h: float, value: str, **font) -> None:
        from fpdf.enums import XPos, YPos

        text = self.fit(value, w, **font)
        self.pdf.set_xy(x, y)
        self.pdf.cell(w, h, text, new_x=XPos.RIGHT, new_y=YPos.TOP)

    def wrapped(self, x: float, y: float, w: float, h: float, value: str, *, family: str, size: float,
                gray: int = 0x1A, char_wrap: bool = False) -> float:
        """Multi-line text from (x, y); returns the y below it."""
        from fpdf.enums import WrapMode, XPos, YPos

        self.font(family, size, gray=gray)
        self.pdf.set_xy(x, y)
        self.pdf.multi_cell(w, h, self.text(value), align="L", new_x=XPos.LEFT, new_y=YPos.NEXT,
                            wrapmode=WrapMode.CHAR if char_wrap else WrapMode.WORD)
        return self.pdf.get_y()

    def line_count(self, value: str, w: float, family: str, size: float, char_wrap: bool = False) -> int:
        from fpdf.enums import MethodReturnValue, WrapMode

        self.font(family, size)
        return len(self.pdf.multi_cell(w, None, self.text(value), align="L", dry_run=True,
                                       output=MethodReturnValue.LINES,
                                       wrapmode=WrapMode.CHAR if char_wrap else WrapMode.WORD))

    def password(self, x: float, y: float, w: float, h: float, password: str) -> None:
        from fpdf.enums import XPos, YPos

        password = self.text(password)
        size = 13.0
        while True:
            self.font("mono", size, bold=True)
            if self.pdf.get_string_width(password) <= w or size <= 8:
                break
            size -= 0.5
        self.pdf.set_xy(x, y)
        colors = {"digit": DIGIT_COLOR, "symbol": SYMBOL_COLOR}
        for kind, run in _password_runs(password):
            self.font("mono", size, bold=True, gray=colors.get(kind, 0x1A))
            self.pdf.cell(self.pdf.get_string_width(run), h, run, new_x=XPos.RIGHT, new_y=YPos.TOP)


def _cut_lines(pdf) -> None:
    pdf.set_draw_color(0x88)
    pdf.set_line_width(0.2)
    pdf.set_dash_pattern(dash=2, gap=1.5)
    for column in range(1, COLUMNS):
        pdf.line(column * CARD_W, 0, column * CARD_W, PAGE_H)
    for row in range(1, CARDS_PER_PAGE // COLUMNS):
        pdf.line(0, row * CARD_H, PAGE_W, row * CARD_H)
    pdf.set_dash_pattern()


# Text sizes for the two parts of a card that can wrap (login URL, instruction), from the usual
# down to the smallest: the first at which the card's content fits its height is used.
_WRAPPED_SIZES = (  # (URL size, URL line height, instruction size, instruction line height)
    (9, 4.5, 8, 3.8), (8, 4.0, 7.5, 3.5), (7, 3.5, 7, 3.3), (6, 3.0, 6.5, 3.0))
_FIXED_HEIGHT = 4.5 + 8 + 6.5 + 7.5 + 1.5 + 6 + 1 + 4  # every line of a card that does not wrap


def _card_pdf(w: _Writer, x0: float, y0: float, account: CohortAccount, *, cohort: str,
              login_url: str, valid_until: str, platform_name: str, trainer: str,
              notebooks_folder: str) -> None:
    pdf = w.pdf
    left, width = x0 + PAD_X, CARD_W - 2 * PAD_X
    value_x, value_w = left + LABEL_W, width - LABEL_W
    bottom = y0 + CARD_H - PAD_Y
    text = instruction(notebooks_folder)
    for url_size, url_h, text_size, text_h in _WRAPPED_SIZES:
        needed = (_FIXED_HEIGHT + url_h * w.line_count(login_url, value_w, "sans", url_size, char_wrap=True)
                  + text_h * w.line_count(text, width, "sans", text_size))
        if needed <= CARD_H - 2 * PAD_Y:
            break
    with pdf.rect_clip(x0 + 1, y0 + 1, CARD_W - 2, CARD_H - 2):  # nothing spills into the next card
        y = y0 + PAD_Y
        w.line(left, y, width, 4, platform_name, family="sans", size=8, min_size=6, gray=0x55)
        y += 4.5
        w.line(left, y, width, 6, f"Zugang zur Schulung {cohort}", family="sans", size=12, min_size=8,
               bold=True)
        y += 8
        w.line(left, y, LABEL_W, 5.5, "Konto", family="sans", size=9, min_size=9, gray=0x55)
        w.line(value_x, y, value_w, 5.5, account.name, family="mono", size=11, min_size=7, bold=True)
        y += 6.5
        w.line(left, y + 0.5, LABEL_W, 5.5, "Passwort", family="sans", size=9, min_size=9, gray=0x55)
        w.password(value_x, y, value_w, 6.5, account.password)
        y += 7.5
        w.line(left, y, LABEL_W, url_h, "Adresse", family="sans", size=9, min_size=9, gray=0x55)
        y = w.wrapped(value_x, y, value_w, url_h, login_url, family="sans", size=url_size, char_wrap=True)
        y += 1.5
        w.line(left, y, width, 4.5, f"Zugang gültig bis {valid_until}", family="sans", size=9, min_size=7)
        y += 6
        w.wrapped(left, y, width, text_h, text, family="sans", size=text_size)
        w.line(left, bottom - 4, width, 4, f"Schulungsleitung: {trainer}", family="sans", size=8,
               min_size=6, gray=0x55)


def sheet_pdf(cohort: str, accounts: Sequence[CohortAccount], login_url: str, expires: dt.date,
              platform_name: str, trainer: str, notebooks_folder: str = "Vorlagen/Schulung", *,
              created: dt.datetime | None = None) -> bytes:
    """The credentials sheet as PDF: A4, eight cards per page (2 × 4) with dashed cut lines.

    Set in DejaVu Sans (umlauts, „quotes“); without it in fpdf's core Helvetica, Latin-1 only.
    ``created`` fixes the creation date (and with it the file ID): the same arguments then give
    the same bytes.
    """
    from fpdf import FPDF

    _check(accounts)
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    pdf.c_margin = 0  # text starts exactly at the card's padding
    writer = _Writer(pdf, find_fonts())
    pdf.set_title(writer.text(f"Zugangsdaten – Schulung {cohort}"))
    pdf.set_subject(writer.text(f"Zugangsdaten der Schulung {cohort} bei {platform_name}"))
    pdf.set_author(writer.text(trainer))
    pdf.set_creator("BIF")
    pdf.set_lang("de-DE")
    if created is not None:
        pdf.set_creation_date(created)
    fields = {"cohort": cohort, "login_url": login_url, "valid_until": format_date(expires),
              "platform_name": platform_name, "trainer": trainer, "notebooks_folder": notebooks_folder}
    for page in _pages(accounts):
        pdf.add_page()
        _cut_lines(pdf)
        for index, account in enumerate(page):
            row, column = divmod(index, COLUMNS)
            _card_pdf(writer, column * CARD_W, row * CARD_H, account, **fields)
    return bytes(pdf.output())
