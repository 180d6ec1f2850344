"""``bif platform start|stop|status|restart-hub|settings|z2jh-values``: run the JupyterHub platform."""

from __future__ import annotations

import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser("platform", help="JupyterHub-Plattform starten, stoppen, prüfen")
    sub = parser.add_subparsers(dest="platform_command", metavar="AKTION", required=True)
    start = sub.add_parser("start", help="Proxy, Hub und Apps-Dienst starten")
    start.add_argument("--demo", action="store_true",
                       help="je Rolle ein Demo-Konto mit zufälligem Passwort anlegen und anzeigen")
    start.add_argument("--foreground", action="store_true",
                       help="im Vordergrund laufen (z. B. unter systemd); Strg-C/SIGTERM stoppt alles")
    start.set_defaults(handler=_start)
    sub.add_parser("stop", help="alles stoppen, auch die JupyterLab-Server").set_defaults(handler=_stop)
    sub.add_parser("status", help="zeigen, was läuft").set_defaults(handler=_status)
    sub.add_parser("restart-hub", help="nur den Hub neu starten; Server und Apps laufen weiter"
                   ).set_defaults(handler=_restart_hub)
    sub.add_parser("settings", help="die geltenden Einstellungen zeigen (settings.yaml, Umgebung und "
                   "Standardwerte)").set_defaults(handler=_settings)
    z2jh = sub.add_parser("z2jh-values", help="Helm-Werte für Zero to JupyterHub aus settings.yaml erzeugen")
    z2jh.add_argument("--output", "-o", help="Datei (Standard: Ausgabe auf stdout)")
    z2jh.set_defaults(handler=_z2jh)


def _run(action, **kwargs) -> int:
    from bif_lib.platform.accounts import AccountError
    from bif_lib.platform.launcher import PlatformError
    from bif_lib.platform.settings import SettingsError

    try:
        return action(**kwargs)
    except (PlatformError, SettingsError, AccountError) as e:
        print(f"Fehler: {e}", file=sys.stderr)
        return 1


def _start(args) -> int:
    from bif_lib.platform import launcher

    return _run(launcher.start, demo=args.demo, foreground=args.foreground)


def _stop(args) -> int:
    from bif_lib.platform import launcher

    return _run(launcher.stop)


def _status(args) -> int:
    from bif_lib.platform import launcher

    return _run(lambda: 0 if launcher.status()["hub_healthy"] else 3)


def _restart_hub(args) -> int:
    from bif_lib.platform import launcher

    return _run(launcher.restart_hub)


def _settings(args) -> int:
    import json

    import yaml

    from bif_lib.platform.settings import load_settings

    def action():
        settings = load_settings()
        sys.stdout.write(f"# Geltende BIF-Einstellungen: {settings.source_file}, Umgebungsvariablen und "
                         "Standardwerte (bif_lib/platform/settings_schema.yaml)\n")
        plain = json.loads(json.dumps(settings))  # Settings -> plain dicts for the YAML dump
        sys.stdout.write(yaml.safe_dump(plain, allow_unicode=True, sort_keys=False))
        return 0

    return _run(action)


def _z2jh(args) -> int:
    from bif_lib.platform.hubconfig import write_z2jh_values
    from bif_lib.platform.settings import load_settings

    def action():
        text = write_z2jh_values(load_settings(), args.output)
        if not args.output:
            sys.stdout.write(text)
        return 0

    return _run(action)
