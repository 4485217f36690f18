#!/bin/sh
# Nightly base backup (cron/systemd timer as the postgres user). With the archived WAL it
# lets you recover to any moment after the oldest kept backup (see README, "Recovery").
set -eu
root=${BACKUP_ROOT:-/var/backups/sharaka}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$root/base" "$root/wal"
pg_basebackup ${PGHOST:+-h "$PGHOST"} ${PGPORT:+-p "$PGPORT"} -D "$root/base/$stamp" -Ft -z -Xnone --checkpoint=fast --label "sharaka-$stamp"
tar -tzf "$root/base/$stamp/base.tar.gz" >/dev/null  # the archive reads back whole
# Keep seven base backups; WAL older than the oldest kept backup is no longer needed.
ls -1d "$root"/base/* | head -n -7 | xargs -r rm -rf
echo "base backup $root/base/$stamp"
