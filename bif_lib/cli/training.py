"""``bif training start|list|status|extend|end|sheet|archive``: training cohorts.

Two ways in, the same commands and output:

- a trainer in their JupyterLab terminal (not root) talks to the trainer page's API
  (``/services/bif-training/api/``) with their own token — ``$BIF_TRAINING_TOKEN`` or the
  server's ``$JUPYTERHUB_API_TOKEN`` — and sees only their own cohorts;
- root on the server works directly on the user store (``lifecycle``) and sees every cohort.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("training", help="Schulungsgruppen: Konten für eine Schulung anlegen, "
                                                    "begleiten und beenden")
    sub = parser.add_subparsers(dest="training_command", metavar="AKTION", required=True)

    start = sub.add_parser("start", help="Konten einer Schulungsgruppe anlegen (Passwörter werden erzeugt)")
    start.add_argument("cohort", metavar="GRUPPE", help="Name der Schulungsgruppe, z. B. grundkurs")
    start.add_argument("--size", "-n", type=int, required=True, help="Anzahl der Konten (1 bis 99)")
    start.add_argument("--bis", metavar="TT.MM.JJJJ", help="letzter Gültigkeitstag (Standard: in 14 Tagen)")
    start.add_argument("--handout", type=Path, metavar="DATEI",
                       help="Zugangsdaten zusätzlich als CSV-Datei für Excel schreiben (nur für Sie lesbar)")
    start.set_defaults(handler=_start)

    listing = sub.add_parser("list", help="Schulungsgruppen und Archive anzeigen")
    listing.set_defaults(handler=_list)

    status = sub.add_parser("status", help="Teilnehmende einer Gruppe: angemeldet, Server, bestandene Übungen")
    status.add_argument("cohort", metavar="GRUPPE")
    status.set_defaults(handler=_status)

    extend = sub.add_parser("extend", help="Enddatum einer Gruppe ändern")
    extend.add_argument("cohort", metavar="GRUPPE")
    extend.add_argument("--bis", metavar="TT.MM.JJJJ", required=True)
    extend.set_defaults(handler=_extend)

    end = sub.add_parser("end", help="Gruppe beenden: Server stoppen, Arbeitsstände archivieren, Konten und "
                                     "Home-Verzeichnisse löschen")
    end.add_argument("cohort", metavar="GRUPPE")
    end.set_defaults(handler=_end)

    sheet = sub.add_parser("sheet", help="Zugangsdaten (eine Karte je Konto) als PDF oder HTML speichern")
    sheet.add_argument("cohort", metavar="GRUPPE")
    sheet.add_argument("--output", "-o", type=Path, required=True, metavar="DATEI", help="….pdf oder ….html")
    sheet.set_defaults(handler=_sheet)

    archive = sub.add_parser("archive", help="Archiv einer beendeten Gruppe herunterladen")
    archive.add_argument("file", metavar="ARCHIV", help="Dateiname aus `bif training list`")
    archive.add_argument("--output", "-o", type=Path, metavar="DATEI")
    archive.set_defaults(handler=_archive)


class TrainingCliError(Exception):
    """Shown to the trainer as 'Fehler: …' (German)."""


# --- the two ways in ----------------------------------------------------------------------------

class Direct:
    """Root on the server: the user store and the homes themselves."""

    def __init__(self):
        from bif_lib.platform.auth import UserStore
        from bif_lib.platform.settings import load_settings
        from bif_lib.training.lifecycle import HubClient

        self.settings = load_settings()
        self.store = UserStore.from_settings(self.settings)
        self.hub = HubClient.for_root(self.settings)

    def _cohort(self, name: str):
        from bif_lib.platform.cohorts import get_cohort

        return get_cohort(self.store, name)

    def start(self, name: str, size: int, bis: str | None) -> dict:
        from bif_lib.training import lifecycle

        cohort, created = lifecycle.start_cohort(self.settings, self.store, name, size, expires=bis, trainer=None)
        return {"cohort": cohort.to_json(), "login_url": f"{self.settings.public_url}hub/login",
                "accounts": [{"name": a.name, "password": a.password} for a in created]}

    def list(self) -> dict:
        from bif_lib.platform.cohorts import cohorts_of
        from bif_lib.training import lifecycle

        return {"cohorts": [c.to_json() for c in cohorts_of(self.store, None)],
                "archives": [a.to_json() for a in lifecycle.archives(self.settings, None)]}

    def status(self, name: str) -> dict:
        from bif_lib.training import lifecycle
        from bif_lib.training.exercises import COURSE

        rows = lifecycle.progress(self.settings, self._cohort(name), self.hub)
        return {"cohort": self._cohort(name).to_json(), "participants": [r.to_json() for r in rows],
                "exercises": [{"id": e.id, "title": e.title} for e in COURSE]}

    def extend(self, name: str, bis: str) -> dict:
        from bif_lib.training import lifecycle

        return {"cohort": lifecycle.extend(self.settings, self.store, self._cohort(name), bis).to_json()}

    def end(self, name: str) -> dict:
        from bif_lib.training import lifecycle

        report = lifecycle.end_cohort(self.settings, self.store, self._cohort(name), self.hub)
        return {"cohort": report.cohort, "accounts": report.accounts, "archive": report.archive.name,
                "skipped": report.skipped}

    def sheet(self, name: str, pdf: bool) -> bytes:
        from bif_lib.training import lifecycle, sheet

        cohort = self._cohort(name)
        args = dict(cohort=cohort.name, accounts=lifecycle.load_credentials(self.settings, cohort),
                    login_url=f"{self.settings.public_url}hub/login", expires=cohort.expires,
                    platform_name=self.settings["platform"]["name"], trainer=cohort.trainer or "",
                    notebooks_folder=f"{self.settings['notebooks']['target']}/{self.settings['training']['course']}")
        return sheet.sheet_pdf(**args) if pdf else sheet.sheet_html(**args).encode("utf-8")

    def archive(self, file: str) -> bytes:
        from bif_lib.training import lifecycle

        return lifecycle.archive_file(self.settings, None, file).read_bytes()


class ViaService:
    """A trainer's own account: the trainer page's API with the trainer's token."""

    def __init__(self):
        from bif_lib.platform.settings import load_settings

        self.settings = load_settings()
        self.token = os.environ.get("BIF_TRAINING_TOKEN") or os.environ.get("JUPYTERHUB_API_TOKEN")
        if not self.token:
            raise TrainingCliError(
                "Kein Zugangstoken gefunden. Führen Sie `bif training` im Terminal Ihres JupyterLab aus oder "
                "legen Sie auf der Hub-Seite „Token“ ein Token an und setzen Sie BIF_TRAINING_TOKEN.")
        self.base = f"{self.settings.local_url.rstrip('/')}{self.settings.training_path}api/"

    def call(self, method: str, path: str, body: dict | None = None, raw: bool = False):
        request = urllib.request.Request(
            self.base + path, method=method, data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                data = response.read()
        except urllib.error.HTTPError as e:
            try:
                message = json.loads(e.read()).get("error")
            except (ValueError, AttributeError):
                message = None
            if e.code == 403:
                message = message if message and message != "Kein Zugang" else (
                    "Kein Zugang zum Schulungsdienst: nur die Schulungsleitung (Gruppe trainers) darf "
                    "Schulungsgruppen verwalten")
            raise TrainingCliError(message or f"Schulungsdienst antwortet mit {e.code}") from None
        except (urllib.error.URLError, OSError) as e:
            raise TrainingCliError(f"Schulungsdienst nicht erreichbar ({getattr(e, 'reason', e)}); läuft die "
                                   "Plattform?") from None
        return data if raw else json.loads(data)

    def start(self, name, size, bis):
        return self.call("POST", "gruppen", {"name": name, "size": size, "bis": bis})

    def list(self):
        return self.call("GET", "gruppen")

    def status(self, name):
        return self.call("GET", f"gruppen/{name.lower()}")

    def extend(self, name, bis):
        return self.call("POST", f"gruppen/{name.lower()}/verlaengern", {"bis": bis})

    def end(self, name):
        return self.call("DELETE", f"gruppen/{name.lower()}")

    def sheet(self, name: str, pdf: bool) -> bytes:
        from bif_lib.platform.cohorts import CohortAccount, parse_end_date
        from bif_lib.training import sheet

        data = self.call("GET", f"gruppen/{name.lower()}/zugangsdaten")
        cohort = self.status(name)["cohort"]
        args = dict(cohort=data["cohort"], accounts=[CohortAccount(a["name"], a["password"]) for a in data["accounts"]],
                    login_url=data["login_url"], expires=parse_end_date(cohort["expires"]),
                    platform_name=self.settings["platform"]["name"], trainer=cohort.get("trainer") or "",
                    notebooks_folder=f"{self.settings['notebooks']['target']}/{self.settings['training']['course']}")
        return sheet.sheet_pdf(**args) if pdf else sheet.sheet_html(**args).encode("utf-8")

    def archive(self, file: str) -> bytes:
        return self.call("GET", f"archiv/{file}", raw=True)


def _backend():
    return Direct() if os.geteuid() == 0 else ViaService()


def _run(action) -> int:
    from bif_lib.platform.accounts import AccountError
    from bif_lib.platform.auth import UserStoreError
    from bif_lib.platform.settings import SettingsError

    try:
        return action(_backend()) or 0
    except (TrainingCliError, UserStoreError, SettingsError, AccountError) as e:
        print(f"Fehler: {e}", file=sys.stderr)
        return 1
    except PermissionError as e:
        print(f"Fehler: keine Berechtigung für {e.filename} – als Schulungsleitung bitte ohne sudo im eigenen "
              "JupyterLab-Terminal aufrufen", file=sys.stderr)
        return 1


# --- commands -----------------------------------------------------------------------------------

def _start(args) -> int:
    def action(backend):
        from bif_lib.platform.cohorts import CohortAccount, write_handout

        result = backend.start(args.cohort, args.size, args.bis)
        cohort, accounts = result["cohort"], result["accounts"]
        print(f"Schulungsgruppe {cohort['name']}: {len(accounts)} Konten angelegt, gültig bis {cohort['expires_de']}")
        print(f"Anmeldung: {result['login_url']}")
        width = max(len(a["name"]) for a in accounts)
        print(f"{'Konto'.ljust(width)}  Passwort")
        for account in accounts:
            print(f"{account['name'].ljust(width)}  {account['password']}")
        if args.handout:
            write_handout(args.handout, [CohortAccount(a["name"], a["password"]) for a in accounts],
                          result["login_url"])
            print(f"Zugangsdaten gespeichert in {args.handout}")
        print(f"Zugangsdaten zum Drucken: bif training sheet {cohort['name']} -o zugang-{cohort['name']}.pdf")
    return _run(action)


def _list(args) -> int:
    def action(backend):
        result = backend.list()
        if not result["cohorts"]:
            print("(keine Schulungsgruppen)")
        for c in result["cohorts"]:
            state = "abgelaufen" if c["expired"] else f"gültig bis {c['expires_de'] or '–'}"
            owner = f", Schulungsleitung {c['trainer']}" if c.get("trainer") else ""
            print(f"{c['name']}: {c['size']} Konten ({c['accounts'][0]} … {c['accounts'][-1]}), {state}{owner}")
        if result.get("archives"):
            print("Archive beendeter Gruppen:")
            for a in result["archives"]:
                print(f"  {a['file']}  ({a['cohort']}, {a['size'] // 1024} KB)")
    return _run(action)


def _status(args) -> int:
    def action(backend):
        result = backend.status(args.cohort)
        total = len(result["exercises"])
        print(f"Schulungsgruppe {result['cohort']['name']}, gültig bis {result['cohort']['expires_de']}")
        for p in result["participants"]:
            print(f"{p['name']}: {'angemeldet' if p['logged_in'] else 'nicht angemeldet'}, JupyterLab "
                  f"{p['server']}, {len(p['passed'])} von {total} Übungen bestanden"
                  + (f" ({', '.join(p['passed'])})" if p["passed"] else ""))
    return _run(action)


def _extend(args) -> int:
    def action(backend):
        cohort = backend.extend(args.cohort, args.bis)["cohort"]
        print(f"Schulungsgruppe {cohort['name']} gilt jetzt bis {cohort['expires_de']}")
    return _run(action)


def _end(args) -> int:
    def action(backend):
        result = backend.end(args.cohort)
        print(f"Schulungsgruppe {result['cohort']} beendet: {len(result['accounts'])} Konten entfernt; "
              f"Arbeitsstände im Archiv {result['archive']} (herunterladen: bif training archive {result['archive']})")
    return _run(action)


def _sheet(args) -> int:
    def action(backend):
        from bif_lib.fsutil import write_private

        data = backend.sheet(args.cohort, pdf=args.output.suffix.lower() == ".pdf")
        write_private(args.output, data)  # passwords: readable by the trainer only
        print(f"Zugangsdaten gespeichert in {args.output}")
    return _run(action)


def _archive(args) -> int:
    def action(backend):
        from bif_lib.fsutil import write_private

        output = args.output or Path(args.file)
        write_private(output, backend.archive(args.file))
        print(f"Archiv gespeichert in {output}")
    return _run(action)
