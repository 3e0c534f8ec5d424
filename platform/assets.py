"""Static assets, collected for WhiteNoise without a step anyone must remember.

The admin, the API docs (drf-spectacular-sidecar's Swagger UI) and the console load their CSS
and JavaScript from `/static/`. WhiteNoise serves them from STATIC_ROOT, compressed and with a
content hash in the name (`CompressedManifestStaticFilesStorage`), which `{% static %}` finds in
the manifest that `collectstatic` writes. `assets_collect` runs that when the sources changed
since the last run: a fingerprint of every source file's path, size and modification time is
kept beside the manifest, so an unchanged tree costs a few milliseconds of `stat` calls.

The ASGI entry point calls it (every server: `manage.py serve`, plain Daphne, each worker of
`serve --workers N`), and so does the test suite. Several processes starting at once take
turns on a file lock; the first collects, the others find the fingerprint current.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command

log = logging.getLogger(__name__)

FINGERPRINT = ".sources"
MANIFEST = "staticfiles.json"


def assets_fingerprint() -> str:
    """A digest of the static sources (each file's path, size and mtime) and of the storage."""
    digest = hashlib.sha256()
    digest.update(f"{settings.STATIC_URL}|{settings.STORAGES['staticfiles']['BACKEND']}\n".encode())
    entries = []
    for finder in finders.get_finders():
        for path, storage in finder.list(None):
            stat = os.stat(storage.path(path))
            prefix = getattr(storage, "prefix", None) or ""
            entries.append(f"{prefix}/{path}|{stat.st_size}|{stat.st_mtime_ns}")
    for entry in sorted(entries):
        digest.update(entry.encode() + b"\n")
    return digest.hexdigest()


def assets_current(root: Path, fingerprint: str) -> bool:
    marker = root / FINGERPRINT
    return (root / MANIFEST).exists() and marker.exists() and marker.read_text().strip() == fingerprint


def assets_collect() -> bool:
    """Run `collectstatic` into STATIC_ROOT if the sources changed; True if it ran.

    A STATIC_ROOT that cannot be written (collected at image build time, say) is left as it is.
    """
    if not settings.STATIC_ROOT:
        return False
    root = Path(settings.STATIC_ROOT)
    fingerprint = assets_fingerprint()
    if assets_current(root, fingerprint):
        return False
    try:
        root.mkdir(parents=True, exist_ok=True)
        with open(root.parent / f".{root.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if assets_current(root, fingerprint):  # another process collected meanwhile
                return False
            call_command("collectstatic", interactive=False, verbosity=0)
            (root / FINGERPRINT).write_text(fingerprint)
    except OSError:
        log.warning("static files could not be collected into %s", root, exc_info=True)
        return False
    return True
