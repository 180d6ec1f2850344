"""Who may open which app, and who may publish.

The hub tells the service who a person is and in which groups they are (the OAuth token
carries ``read:users:groups!user``). An app's ``audience`` lists BIF groups; a person may
open it when they share at least one group with it. There is deliberately no admin
override: an app for the Statistikstelle may show confidential data, which admins must
not see either (Statistikgeheimnis).
"""

from __future__ import annotations

from bif_lib.platform.settings import PUBLISH_SCOPE


def user_groups(user: dict | None) -> set[str]:
    return set((user or {}).get("groups") or [])


def can_open(user: dict | None, meta: dict) -> bool:
    if not user or user.get("kind", "user") != "user":
        return False
    return bool(user_groups(user) & set(meta.get("audience") or []))


def can_publish(user: dict | None) -> bool:
    """Publishing needs the hub scope ``custom:bif-apps:publish`` on the request's token."""
    scopes = set((user or {}).get("scopes") or [])
    return PUBLISH_SCOPE in scopes
