#!/bin/sh
# Release step, run once per release from ONE machine (never at start-up):
#   deploy/release.sh /opt/sharaka/releases/2026-12-01
# installs the release, checks what it can before touching the database, backs the database up,
# migrates it, then switches every machine's `current` link and restarts (ssh loop or your orchestration).
# Once migrated, the servers still running the old release answer 503 on /readyz (their code no longer
# matches the database): the switch follows at once, and the release is a short pause, not a rolling one.
# Going back is restoring the backup (below) with the old release: a newer release's data (a workflow
# version with a tag the old code does not know) is not read by an older one, so `flask db downgrade` is
# not a way back once the new release has run.
set -eu
release=${1:?usage: release.sh RELEASE_DIR}
cd "$release"
python3 -m venv .venv
.venv/bin/pip install --quiet -r requirements.txt
.venv/bin/pybabel compile -d app/translations >/dev/null
# The systemd environment file, read as systemd reads it (KEY=value, nothing expanded): sourced by the shell,
# an LDAP_GROUP_ROLES with its ";" and "(" or a password with a "$" had broken the script or been changed.
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in ''|\#*) continue ;; esac
  export "$line"
done < /etc/sharaka/sharaka.env
export FLASK_APP=app
.venv/bin/flask workflows check     # before the migration: a refusal here changes nothing
if [ -n "${BACKUP_COMMAND:-}" ]; then
  sh -c "$BACKUP_COMMAND"           # e.g. pg_dump -Fc sharaka > /var/backups/sharaka-$(date +%F-%H%M).dump
fi
.venv/bin/flask db upgrade
.venv/bin/flask storage verify      # every stored file where STORAGE says (after `flask storage migrate`)
ln -sfn "$release" /opt/sharaka/current
systemctl restart sharaka-web sharaka-scheduler
