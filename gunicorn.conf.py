"""The one Gunicorn configuration, used in the container and for `make run`.

preload_app loads the app (and with it the sentence-transformers model and the embeddings)
once in the master; forked workers share those pages copy-on-write.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the app package beside this file
from app.config import ConfigError, config_error_line, gunicorn_settings, startup_settings

# A bad KEWP_* value stops gunicorn with one line naming it (not a traceback), before preload.
try:
    _settings = gunicorn_settings()
    startup_settings()
except ConfigError as exc:
    sys.exit(config_error_line(exc))

bind = _settings["bind"]
workers = _settings["workers"]
worker_class = "sync"
preload_app = True
timeout = _settings["timeout"]
graceful_timeout = 30
keepalive = 5
# The request line (method, URL, HTTP version) may be up to 8190 bytes, gunicorn's maximum
# (larger values are cut to it; its default, 4094, answered a documented 2,000-character
# `text=` with its own HTML error). 2,000 ASCII characters fit even when all are percent-encoded
# (3 bytes each); a character that is 3 bytes in UTF-8 takes 9, so about 900 of those fit
# (docs/api.md). nginx's default large_client_header_buffers (4 8k) allows the same line.
limit_request_line = 8190
max_requests = 2000  # recycle workers now and then; jitter keeps them from restarting together
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
loglevel = _settings["loglevel"]
# Real client addresses from nginx on the same host only.
forwarded_allow_ips = "127.0.0.1"
# gunicorn 27 opens a control socket under $HOME by default; kewp does not use it, and the
# container's root is read-only with no home for the app user.
control_socket_disable = True
# Uploads and request spooling go to tmpfs in the container.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 (heartbeat files, not data)


def post_fork(server, worker):
    """One torch thread per worker.

    A master that ran any torch op with 2+ threads leaves a forked child hanging on its first
    encode (futex wait); one thread per worker also avoids oversubscribing the cores.
    """
    # Only when the master loaded torch: importing it here would cost every worker seconds
    # and hundreds of MB that preload was meant to share.
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def when_ready(server):
    server.log.info("kewp ready: %d workers, version %s", workers, os.environ.get("KEWP_VERSION", "dev"))
