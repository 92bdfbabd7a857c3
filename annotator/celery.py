"""The Celery app, configured from Django settings (the ``CELERY_`` names).

``celery -A annotator worker`` finds it as ``annotator.celery_app``. See
settings.py for the broker choice and the process layout.
"""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings")

app = Celery("annotator")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["annotator"])


@app.on_after_configure.connect
def _broker_folders(sender: Celery, **_kwargs: object) -> None:
    """The filesystem broker's folders must exist before anyone sends or reads."""
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)
