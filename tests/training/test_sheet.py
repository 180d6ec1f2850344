"""The credentials sheet: every account on a card, escaped HTML, a PDF with umlauts."""

from __future__ import annotations

import datetime as dt
import html
import re
import shutil
import zlib

import pytest

from bif_lib.platform.auth import generate_password
from bif_lib.platform.cohorts import CohortAccount
from bif_lib.training import sheet

EXPIRES = dt.date(2026, 12, 19)
COMMON = {"login_url": "https://bif.flensburg.de/hub/login", "expires": EXPIRES,
          "platform_name": "BIF Flensburg", "trainer": "Jürgen Müßig", "notebooks_folder": "Vorlagen/Schulung"}


def cohort_accounts(size: int = 12, cohort: str = "grundkurs") -> list[CohortAccount]:
    return [CohortAccount(f"{cohort}-{n:02d}", generate_password()) for n in range(1, size + 1)]


def visible_text(page: str) -> str:
    """The text of an HTML page without tags (entities resolved)."""
    body = re.sub(r"<(style|script)\b.*?</\1>", "", page, flags=re.DOTALL)
    return html.unescape(re.sub(r"<[^>]+>", "", body))


# --- a small PDF text extractor for fpdf2's output (no PDF library in the environment) -------

def _objects(data: bytes) -> dict[int, bytes]:
    return {int(n): body for n, body in re.findall(rb"(\d+) 0 obj\s*(.*?)endobj", data, re.DOTALL)}


def _stream(body: bytes) -> bytes:
    head, _, rest = body.partition(b"stream")
    raw = re.match(rb"\r?\n(.*)\r?\nendstream", rest, re.DOTALL).group(1)
    return zlib.decompress(raw) if b"/FlateDecode" in head else raw


def _literal(source: bytes, start: int) -> tuple[bytes, int]:
    """The PDF literal string starting after the "(" at ``start``; returns it and the index after ")"."""
    escapes = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("f"): b"\f"}
    out, depth, i = bytearray(), 1, start
    while True:
        c = source[i]
        if c == ord("\\"):
            nxt = source[i + 1]
            if nxt in escapes:
                out += escapes[nxt]
                i += 2
            elif chr(nxt) in "01234567":
                digits = re.match(rb"[0-7]{1,3}", source[i + 1:i + 4]).group(0)
                out.append(int(digits, 8) & 0xFF)
                i += 1 + len(digits)
            elif nxt in b"\r\n":
                i += 2
            else:
                out.append(nxt)
                i += 2
            continue
        if c == ord("("):
            depth += 1
        elif c == ord(")"):
            depth -= 1
            if depth == 0:
                return bytes(out), i + 1
        out.append(c)
        i += 1


def _cmap(body: bytes) -> dict[int, str]:
    text = _stream(body)
    mapping = {}
    for code, uni in re.findall(rb"<([0-9A-Fa-f]{4})>\s*<([0-9A-Fa-f]+)>", text.split(b"endcodespacerange")[-1]):
        mapping[int(code, 16)] = bytes.fromhex(uni.decode()).decode("utf-16-be")
    return mapping


def pdf_pages_text(data: bytes) -> list[str]:
    """The text of each page: runs on one baseline joined, a new line for each baseline."""
    objects = _objects(data)
    kids = re.search(rb"/Kids \[([^\]]*)\]", objects[1]).group(1)
    pages = []
    for page_ref in re.findall(rb"(\d+) 0 R", kids):
        page = objects[int(page_ref)]
        content = _stream(objects[int(re.search(rb"/Contents (\d+) 0 R", page).group(1))])
        resources = objects[int(re.search(rb"/Resources (\d+) 0 R", page).group(1))]
        fonts = {}
        for name, ref in re.findall(rb"/(F\d+) (\d+) 0 R", resources):
            font = objects[int(ref)]
            to_unicode = re.search(rb"/ToUnicode (\d+) 0 R", font)
            fonts[name] = _cmap(objects[int(to_unicode.group(1))]) if to_unicode else None
        lines, current, font, last_y = [], "", None, None
        i = 0
        token = re.compile(rb"/(F\d+) [\d.]+ Tf|([\d.-]+) ([\d.-]+) Td|\(")
        while (match := token.search(content, i)) is not None:
            if match.group(1):
                font = fonts[match.group(1)]
                i = match.end()
            elif match.group(2):
                y = match.group(3)
                if last_y is not None and y != last_y:
                    lines.append(current)
                    current = ""
                last_y = y
                i = match.end()
            else:
                raw, i = _literal(content, match.end())
                if font is None:  # a core font: Latin-1
                    current += raw.decode("latin-1")
                else:
                    current += "".join(font.get(int.from_bytes(raw[k:k + 2], "big"), "\ufffd")
                                       for k in range(0, len(raw), 2))
        lines.append(current)
        pages.append("\n".join(lines))
    return pages


def pdf_info(data: bytes) -> dict[str, str]:
    """The document information dictionary (/Title, /Creator …), decoded."""
    info_ref = re.search(rb"/Info (\d+) 0 R", data).group(1)
    info = _objects(data)[int(info_ref)]
    found = {}
    for key, value in re.findall(rb"/(\w+) <(feff[0-9a-fA-F]*)>", info):
        found[key.decode()] = bytes.fromhex(value.decode()).decode("utf-16")
    for key, value in re.findall(rb"/(\w+) \(([^)]*)\)", info):
        found.setdefault(key.decode(), value.decode("latin-1"))
    return found


def page_count(data: bytes) -> int:
    return len(re.findall(rb"/Type /Page\b(?!s)", data))


# --- HTML --------------------------------------------------------------------------------------

def test_html_has_a_card_for_every_account():
    accounts = cohort_accounts(12)
    page = sheet.sheet_html("grundkurs", accounts, **COMMON)
    text = visible_text(page)

    assert page.startswith("<!DOCTYPE html>") and '<html lang="de">' in page
    assert page.count('<article class="karte">') == 12
    assert page.count('<section class="seite">') == 2  # eight cards per A4 page
    for account in accounts:
        assert f">{account.name}<" in page
        assert account.password in text  # digits are wrapped in spans, the text is whole
    assert text.count("Zugang zur Schulung grundkurs") == 12
    assert text.count("Zugang gültig bis 19.12.2026") == 12
    assert text.count("Schulungsleitung: Jürgen Müßig") == 12
    assert text.count("https://bif.flensburg.de/hub/login") == 12
    assert text.count("Melden Sie sich mit Konto und Passwort an. Ihre Schulungsnotebooks finden Sie im "
                      "Ordner „Vorlagen/Schulung“.") == 12
    for label in ("Konto", "Passwort", "Adresse", "BIF Flensburg"):
        assert text.count(label) >= 12


def test_html_prints_on_a4_without_the_controls_and_loads_nothing():
    page = sheet.sheet_html("grundkurs", cohort_accounts(3), **COMMON)

    assert "@page { size: A4" in page
    print_css = page[page.index("@media print"):]
    assert ".steuerung { display: none; }" in print_css  # the "Drucken" button is not printed
    assert re.search(r"\.karte \{[^}]*break-inside: avoid", page)
    assert '<button type="button" class="drucken" onclick="window.print()">Drucken</button>' in page
    assert 'class="drucken"' in page[page.index('<header class="steuerung">'):page.index("</header>")]
    # self-contained: no scripts, stylesheets, images or fonts from anywhere
    assert not re.search(r"<(script|link|img|iframe)\b", page)
    assert "url(" not in page and "@import" not in page
    assert "3 Karten auf eine Seite" in visible_text(page)


def test_html_escapes_every_value():
    hostile = "<script>alert(1)</script>"
    accounts = [CohortAccount("kurs-01", 'Ab3<&>"x'), CohortAccount("kurs-02", "pw'<img src=x>")]
    page = sheet.sheet_html(hostile, accounts, login_url='https://x/"><script>alert(2)</script>',
                            expires=EXPIRES, platform_name="Stadt & <b>Land</b>",
                            trainer='"><img src=x onerror=alert(3)>', notebooks_folder="<i>Kurs</i>")

    assert "<script" not in page and "<img" not in page and "<b>" not in page and "<i>" not in page
    assert "Zugang zur Schulung &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<title>Zugangsdaten – Schulung &lt;script&gt;alert(1)&lt;/script&gt;</title>" in page
    assert "Schulungsleitung: &quot;&gt;&lt;img src=x onerror=alert(3)&gt;" in page
    assert "Stadt &amp; &lt;b&gt;Land&lt;/b&gt;" in page
    text = visible_text(page)
    assert 'Ab3<&>"x' in text and "pw'<img src=x>" in text
    assert "Zugang zur Schulung <script>alert(1)</script>" in text


def test_html_marks_digits_and_symbols_in_passwords():
    page = sheet.sheet_html("kurs", [CohortAccount("kurs-01", "Ab3$x9Z")], **COMMON)

    assert ('<dd class="mono passwort">Ab<span class="ziffer">3</span><span class="zeichen">$</span>x'
            '<span class="ziffer">9</span>Z</dd>') in page
    assert "slashed-zero" in page and "monospace" in page


def test_generated_passwords_leave_out_confusable_characters():
    """The sheet relies on it: 0/O and 1/l/I never occur in a generated password."""
    passwords = "".join(generate_password() for _ in range(200))
    assert not set(passwords) & set("0O1lI")


def test_a_cohort_without_accounts_has_no_sheet():
    with pytest.raises(ValueError, match="keine Konten"):
        sheet.sheet_html("kurs", [], **COMMON)
    with pytest.raises(ValueError, match="keine Konten"):
        sheet.sheet_pdf("kurs", [], **COMMON)


# --- PDF ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("size", "pages"), [(1, 1), (8, 1), (9, 2), (12, 2), (17, 3)])
def test_pdf_has_eight_cards_per_page(size, pages):
    data = sheet.sheet_pdf("grundkurs", cohort_accounts(size), **COMMON)

    assert data.startswith(b"%PDF-1.") and data.rstrip().endswith(b"%%EOF")
    assert b"trailer" in data and b"startxref" in data
    assert page_count(data) == pages
    assert b"/MediaBox [0 0 595.28 841.89]" in data  # A4
    texts = pdf_pages_text(data)
    assert len(texts) == pages
    assert sum(t.count("Zugang zur Schulung grundkurs") for t in texts) == size
    assert [t.count("Zugang zur Schulung") for t in texts[:-1]] == [8] * (pages - 1)


def test_pdf_has_every_account_password_and_umlaut():
    accounts = cohort_accounts(12)
    data = sheet.sheet_pdf("grundkurs", accounts, **COMMON)
    text = "\n".join(pdf_pages_text(data))

    for account in accounts:
        assert f"Konto\n{account.name}\n" in text
        assert f"Passwort\n{account.password}\n" in text  # its coloured runs make one line
    assert text.count("Zugang gültig bis 19.12.2026") == 12
    assert text.count("Schulungsleitung: Jürgen Müßig") == 12
    assert text.count("BIF Flensburg") == 12
    flowing = text.replace("\n", " ")
    assert flowing.count("Melden Sie sich mit Konto und Passwort an. Ihre Schulungsnotebooks finden Sie im "
                         "Ordner „Vorlagen/Schulung“.") == 12
    assert b"DejaVuSans" in data and b"Helvetica" not in data  # the Unicode font, embedded


def test_pdf_cut_lines_between_the_cards():
    data = sheet.sheet_pdf("grundkurs", cohort_accounts(8), **COMMON)
    content = _stream(_objects(data)[int(re.search(rb"/Contents (\d+) 0 R", data).group(1))])

    assert re.search(rb"\[[\d.]+ [\d.]+\] [\d.]+ d", content)  # dashed
    assert b"297.64 841.89 m 297.64 0.00 l S" in content  # the vertical cut in the middle
    for y in (b"631.42", b"420.95", b"210.47"):  # three horizontal cuts: four rows
        assert b"0.00 " + y + b" m 595.28 " + y + b" l S" in content


def test_pdf_metadata():
    data = sheet.sheet_pdf("grundkurs", cohort_accounts(2), **COMMON)
    info = pdf_info(data)

    assert info["Title"] == "Zugangsdaten – Schulung grundkurs"
    assert info["Creator"] == "BIF"
    assert info["Author"] == "Jürgen Müßig"
    assert b"/Lang (de-DE)" in data


def test_pdf_is_deterministic_with_a_creation_date():
    accounts = cohort_accounts(3)
    created = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)

    first = sheet.sheet_pdf("grundkurs", accounts, **COMMON, created=created)
    assert sheet.sheet_pdf("grundkurs", accounts, **COMMON, created=created) == first
    assert b"/CreationDate (D:20261201093000Z" in first or b"/CreationDate (D:20261201" in first


def test_pdf_long_values_stay_on_their_card():
    url = "https://bif.stadtverwaltung-beispielstadt.de/hub/login?next=%2Fhub%2Fuser%2Fgrundkurs-01%2Flab"
    trainer = "Dr. Maximiliane Müller-Lüdenscheidt, Fachdienst Öffentlichkeitsarbeit und Bürgerbeteiligung"
    data = sheet.sheet_pdf("grundkurs", cohort_accounts(8), login_url=url, expires=EXPIRES,
                           platform_name="BIF", trainer=trainer, notebooks_folder="Vorlagen/Schulung")
    text = pdf_pages_text(data)[0]

    first_card = text[:text.index("Zugang gültig bis")]
    address = first_card[first_card.index("Adresse"):].removeprefix("Adresse")
    assert address.count("\n") >= 2  # wrapped on the card
    assert address.replace("\n", "") == url  # every character kept
    lines = text.split("\n")
    leader = [line for line in lines if line.startswith("Schulungsleitung: ")]
    assert len(leader) == 8
    assert all(line.endswith("…") and trainer.startswith(line[len("Schulungsleitung: "):-1].rstrip())
               for line in leader)  # cut to the card's width, visibly


def test_pdf_without_dejavu_falls_back_to_core_fonts(monkeypatch):
    monkeypatch.setattr(sheet, "find_fonts", lambda dirs=None: None)
    accounts = cohort_accounts(2)
    data = sheet.sheet_pdf("grundkurs", accounts, **COMMON)
    text = "\n".join(pdf_pages_text(data))

    assert page_count(data) == 1 and b"Helvetica" in data and b"DejaVu" not in data
    for account in accounts:
        assert account.password in text
    assert "Zugang gültig bis 19.12.2026" in text  # Latin-1 has the umlauts
    assert '"Vorlagen/Schulung"' in text.replace("\n", " ")  # „“ are not in Latin-1


def test_fonts_are_found_where_bif_installs_them():
    fonts = sheet.find_fonts()
    assert fonts is not None, "DejaVu Sans not found: neither matplotlib's copy nor fonts-dejavu-core"
    assert set(fonts) == {("sans", ""), ("sans", "B"), ("mono", "B")}
    assert all(path.is_file() for path in fonts.values())


def test_find_fonts_without_bold_faces(tmp_path):
    fonts = sheet.find_fonts()
    shutil.copy(fonts[("sans", "")], tmp_path / "DejaVuSans.ttf")
    assert sheet.find_fonts([tmp_path]) is None  # no monospace face

    (tmp_path / "mono").mkdir()
    shutil.copy(fonts[("mono", "B")], tmp_path / "mono" / "DejaVuSansMono.ttf")
    found = sheet.find_fonts([tmp_path, tmp_path / "mono"])
    assert found == {("sans", ""): tmp_path / "DejaVuSans.ttf", ("sans", "B"): tmp_path / "DejaVuSans.ttf",
                     ("mono", "B"): tmp_path / "mono" / "DejaVuSansMono.ttf"}
    assert sheet.find_fonts([]) is None
