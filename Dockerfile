# The kewp image, built ON the VPS by roles/kewp_app (see docs there), from the app source and
# a wheelhouse made on the control node by scripts/build-wheelhouse. No registry and no PyPI
# are needed at build time: pip installs only from wheelhouse/ (--no-index).
#
#   BASE_IMAGE  an image with Python 3.11 + venv at /usr/bin/python3 (the wheelhouse is for
#               CPython 3.11 x86_64): by default kewp-base:*, which the role builds from
#               Debian 12 packages (mmdebstrap | docker import); or a registry image.
#   KEWP_UID/KEWP_GID  the host's `kewp` user (common_kewp_uid/gid): the container runs as it,
#               so the host's backup job (as kewp) can open the WAL database.
#   KEWP_VERSION/KEWP_REVISION  shown by /healthz, /readyz, the labels and `systemctl status`.
ARG BASE_IMAGE=kewp-base:bookworm

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
COPY requirements.txt /tmp/requirements.txt
# The wheelhouse is bind-mounted for the one RUN that needs it: it never becomes a layer.
RUN --mount=type=bind,source=wheelhouse,target=/wheels \
    python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-index --find-links /wheels -r /tmp/requirements.txt \
    && python3 -c "import sys; assert sys.version_info[:2] == (3, 11), sys.version"

FROM ${BASE_IMAGE}
ARG KEWP_UID=10001
ARG KEWP_GID=10001
ARG KEWP_VERSION=dev
ARG KEWP_REVISION=unknown
# The app user: the same uid/gid as the host's kewp user; no home, no shell.
RUN echo "kewp:x:${KEWP_GID}:" >>/etc/group \
    && echo "kewp:x:${KEWP_UID}:${KEWP_GID}:kewp app:/nonexistent:/usr/sbin/nologin" >>/etc/passwd
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY gunicorn.conf.py /app/
COPY app /app/app
COPY data/seed /app/seed
# Byte-code now: the root filesystem is read-only at run time. (The database path is app/config.py's
# default, under /app/data, where kewp.service mounts the host's data directory.)
RUN /opt/venv/bin/python -m compileall -q /app/app /app/gunicorn.conf.py

ENV PATH=/opt/venv/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_HOME=/tmp/huggingface \
    KEWP_ENV=production \
    KEWP_BIND=0.0.0.0:8000 \
    KEWP_VERSION=${KEWP_VERSION}
LABEL org.opencontainers.image.title="kewp" \
      org.opencontainers.image.description="Key Event to WikiPathways mapping service" \
      org.opencontainers.image.version="${KEWP_VERSION}" \
      org.opencontainers.image.revision="${KEWP_REVISION}" \
      org.opencontainers.image.licenses="GPL-2.0-or-later"
USER ${KEWP_UID}:${KEWP_GID}
EXPOSE 8000
# Python stdlib only (no curl in the image). Liveness, not readiness: systemd waits for /readyz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python3", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]
CMD ["gunicorn", "-c", "/app/gunicorn.conf.py", "app:create_app()"]
