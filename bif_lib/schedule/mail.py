"""E-mail to the data stewards through the city's SMTP relay (``schedule.smtp`` in the settings).

Plain ``smtplib``: the relay is the administration's own (no authentication, or a user with the
password in the environment variable ``BIF_SMTP_PASSWORD``; ``starttls`` where the relay asks for
it). Without ``schedule.smtp.host`` no mail is sent; the notice on the hub's start page remains.
"""

from __future__ import annotations

import os
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

PASSWORD_ENV = "BIF_SMTP_PASSWORD"


class MailError(RuntimeError):
    """The mail could not be handed to the relay (German message)."""


def configured(settings) -> bool:
    return bool(settings["schedule"]["smtp"]["host"])


def send(settings, recipients: list[str], subject: str, body: str) -> None:
    """Hand one plain-text mail to the relay; ``MailError`` (German) if it refuses or is unreachable."""
    smtp = settings["schedule"]["smtp"]
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = smtp["from"]
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=smtp["from"].rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to it
    message.set_content(body)
    where = f"{smtp['host']}:{smtp['port']}"
    try:
        with smtplib.SMTP(smtp["host"], int(smtp["port"]), timeout=float(smtp["timeout"])) as relay:
            if smtp["starttls"]:
                relay.starttls(context=ssl.create_default_context())
            if smtp["username"]:
                relay.login(smtp["username"], os.environ.get(PASSWORD_ENV, ""))
            refused = relay.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise MailError(f"Der Mailserver {where} hat alle Empfänger abgelehnt: {', '.join(exc.recipients)}") from None
    except smtplib.SMTPAuthenticationError:
        raise MailError(f"Anmeldung am Mailserver {where} als {smtp['username']} fehlgeschlagen "
                        f"(Passwort in {PASSWORD_ENV})") from None
    except (smtplib.SMTPException, OSError, socket.timeout) as exc:
        raise MailError(f"Mailserver {where} nicht erreichbar oder verweigert die Annahme: {exc}") from None
    if refused:
        raise MailError(f"Der Mailserver {where} hat Empfänger abgelehnt: {', '.join(refused)}")


__all__ = ["MailError", "configured", "send"]
