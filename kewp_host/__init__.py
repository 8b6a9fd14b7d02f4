"""kewp_host: the tools that run on the kewp VPS itself (backups, on-call view, health watch, readiness wait).

Python standard library only, for Debian 12's /usr/bin/python3. See README.md beside this file.
"""
