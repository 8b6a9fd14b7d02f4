"""The one Gunicorn configuration, used in the container and for `make run`.

preload_app loads the app (and with it the sentence-transformers model and the embeddings)
once in the master; forked workers share those pages copy-on-write.
"""

import os
import sys

bind = os.environ.get("KEWP_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("KEWP_WORKERS", "2"))
worker_class = "sync"
preload_app = True
timeout = int(os.environ.get("KEWP_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
max_requests = 2000  # recycle workers now and then; jitter keeps them from restarting together
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("KEWP_LOG_LEVEL", "info")
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
