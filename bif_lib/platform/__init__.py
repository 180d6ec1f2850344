"""The BIF platform: JupyterHub for analysts (JupyterLab with verified data) and planners
(published apps only).

- ``settings``   one schema with every default (``settings_schema.yaml``), the city's
                 ``hub_config/settings.yaml`` and environment variables over it
- ``auth``       local accounts (scrypt), LDAP/AD and OpenID Connect, group mapping
- ``accounts``   OS accounts per person, OS groups and permissions of the store's areas
- ``hubconfig``  the traitlets configuration (RBAC, services, spawner, Zero to JupyterHub)
- ``launcher``   ``bif platform start|stop|status|restart-hub``
- ``office``     the statistics office: membership by break-glass request and approval

The planners' apps (gallery, publishing, serving) are their own wing: ``bif_lib.apps``.

See docs/platform.md.
"""
