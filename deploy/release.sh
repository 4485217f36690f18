#!/bin/sh
# Release step, run once per release from ONE machine (never at start-up):
#   deploy/release.sh /opt/sharaka/releases/2026-12-01
# installs the release, migrates the database, checks the workflows, then switches
# every machine's `current` link and restarts (ssh loop or your orchestration).
set -eu
release=${1:?usage: release.sh RELEASE_DIR}
cd "$release"
python3 -m venv .venv
.venv/bin/pip install --quiet -r requirements.txt
.venv/bin/pybabel compile -d app/translations >/dev/null
set -a; . /etc/sharaka/sharaka.env; set +a
export FLASK_APP=app
.venv/bin/flask db upgrade          # additive migrations: old servers keep working meanwhile
.venv/bin/flask workflows check
.venv/bin/flask storage verify      # every stored file still matches its SHA-256
ln -sfn "$release" /opt/sharaka/current
systemctl restart sharaka-web sharaka-scheduler
