"""kewp-backup: online backups of kewp's SQLite database, their retention, checks and restore.

Installed on the VPS as /usr/local/sbin/kewp-backup by the kewp_backup role; Python 3 standard
library only (Debian's python3) and the zstd command (Debian package zstd). The systemd units run
it; operators run it by hand too.

  kewp-backup backup  [--now ISO]              take a backup now (as the database's owner, kewp)
  kewp-backup list    [--json]                 list backups, newest first, with their status
  kewp-backup verify  [FILE]                   check checksum, integrity and row counts (default: newest)
  kewp-backup prune   [--dry-run] [--now ISO]  delete what the retention policy does not keep
  kewp-backup restore [FILE] [--to PATH]       put a checked backup in place (default: the newest good one)
  kewp-backup drill   [--max-age HOURS]        restore the newest backup to a scratch file and check it
  kewp-backup alert   UNIT                     report a failed systemd unit (journal, webhook, mail)

A backup is two files in the backup directory: NAME.db.zst (the zstd-compressed database, made with
SQLite's online backup API, never a file copy) and NAME.json (its manifest: sha256 of both the
compressed and the raw database, sizes, PRAGMA integrity_check result, row counts of the main
tables). Everything is written under a ".tmp-" name first; the data file and then the manifest are
renamed into place only when everything passed, so a manifest is the mark of a complete backup.
Files whose names start with "." are never listed, pruned or restored.

Settings: command-line options, else environment variables, else the file named by
KEWP_BACKUP_CONFIG (default /etc/default/kewp-backup, KEY=VALUE lines written by the role), else the
defaults below (see CONFIG_KEYS).

Exit codes: 0 ok; 1 unexpected error; 2 bad usage or setting; 3 not enough free space (nothing
was written); 4 a backup failed its checks (checksum, integrity, row counts, or too old for a
drill); 5 another kewp-backup run held the lock too long; 6 no backup to work on; 7 restored, but
the app did not start again (the safety copy's location is printed).

The modules: common (settings, exit codes, lock), store (manifests and listing), database (SQLite),
compression (zstd), take (backup), verify, prune, restore (restore and drill), alert, cli (main).
"""
