"""Serving published apps: the ``bif-apps`` hub service (gallery and gateway), the standalone
Voilà behind it with its preheated kernel pools, its supervisor, and the app front end
(``app_frontend/`` sources, built into the Voilà template under ``share/``)."""
