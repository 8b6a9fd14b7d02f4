"""The app's gunicorn.conf.py with preload_app off: each worker imports the app (and the model) itself.

gunicorn 27 has `--preload` but no `--no-preload` switch, so the memory benchmark runs
`gunicorn -c bench/gunicorn_no_preload.py` to compare against the real configuration.
"""

import runpy
from pathlib import Path

_settings = runpy.run_path(str(Path(__file__).resolve().parents[1] / "gunicorn.conf.py"))
globals().update({k: v for k, v in _settings.items() if not k.startswith("__")})
preload_app = False
