"""Publishing a notebook as an app: the checks (metadata, classification, a sandboxed headless
run), the thumbnail, and the new version in the registry (``bif publish``, ``publish_from_lab``)."""
