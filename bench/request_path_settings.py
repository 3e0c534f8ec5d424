"""Bench-only settings for `request_path.py`: the product's settings with a URL conf that adds
the two baselines (never in the product's URLs). The server imports it by name: `request_path.py`
puts bench/ on its PYTHONPATH and sets DJANGO_SETTINGS_MODULE."""

from plugboard.settings import *  # noqa: F403

ROOT_URLCONF = "request_path_urls"
