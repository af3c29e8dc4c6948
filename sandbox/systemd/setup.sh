#!/usr/bin/env bash
# Run inside the systemd host's root filesystem at build time (build.sh, through systemd-nspawn
# without --boot): the deploy user, sshd, sudo rules, PostgreSQL 14/main, the recorder app in the
# seed VPS's layout with its systemd units and nginx site, and the migrated, seeded database.
set -euo pipefail
HERE=/tmp/sandbox-systemd
ORIGIN=/srv/git/recorder.git
WWW=/var/www
APP=$WWW/recorder_ed
cd /
env_get() { sed -n "s/^$1=//p" /root/sandbox.env | tail -n 1 | sed -e 's/^"//' -e 's/"$//'; }

echo sandbox-systemd > /etc/hostname
echo "127.0.1.1 sandbox-systemd" >> /etc/hosts
# nginx would wait 2 minutes for a network that --private-network never brings; timers stay quiet
for u in systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer \
         e2scrub_all.timer fstrim.timer; do
  ln -sfn /dev/null "/etc/systemd/system/$u"
done

# --- the deploy user (the machine's uid: the bind-mounted origin is its) and sshd --------------
# systemd-journal: `journalctl -u gunicorn` without sudo, as on the seed's VPS
useradd --uid "$(env_get DEPLOY_UID)" --create-home --shell /bin/bash --groups systemd-journal deploy
usermod -p '*' deploy   # no password, but not locked: key login works
install -d -m 0700 -o deploy -g deploy /home/deploy/.ssh
install -m 0600 -o deploy -g deploy /root/client.pub /home/deploy/.ssh/authorized_keys
cat > /etc/ssh/sshd_config.d/deploy-sandbox.conf <<'CONF'
# deploy-sandbox: key login for deploy only (the machine reaches port 22 through a socat relay)
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers deploy
MaxStartups 100:30:200
MaxSessions 100
CONF
cat > /etc/sudoers.d/deploy-sandbox <<'CONF'
# deploy-sandbox: the deploy user may act as postgres and control the app's units and clusters.
Defaults:deploy !requiretty
deploy ALL=(postgres) NOPASSWD: ALL
deploy ALL=(root) NOPASSWD: /usr/bin/systemctl, /usr/bin/journalctl, /usr/sbin/nginx, /usr/bin/pg_ctlcluster, /usr/bin/pg_upgradecluster, /usr/bin/pg_dropcluster, /usr/bin/pg_createcluster
CONF
chmod 0440 /etc/sudoers.d/deploy-sandbox && visudo -cq

# --- pip works offline: the app's wheels are in the image --------------------------------------
printf '[global]\nno-index = true\nfind-links = /var/cache/deploy-sandbox-wheels\ndisable-pip-version-check = true\n' \
  > /etc/pip.conf

# --- the app: /var/www/recorder_ed (work tree, venv inside), shared env, backups -------------------
install -d -m 0755 -o deploy -g deploy "$WWW" "$WWW/maintenance" /etc/nginx/deploy.d
install -d -m 0750 -o deploy -g deploy "$WWW/shared"
install -d -m 0700 -o deploy -g deploy "$WWW/backups"
sudo -u deploy -H git clone -q "$ORIGIN" "$APP"
sudo -u deploy -H git -C "$APP" checkout -q -B main v1
sudo -u deploy -H git -C "$APP" branch -q --set-upstream-to=origin/main main
sudo -u deploy -H python3 -m venv "$APP/venv"
sudo -u deploy -H "$APP/venv/bin/pip" install -q -r "$APP/requirements.txt"
umask 077
cat > "$WWW/shared/app.env" <<CONF
SECRET_KEY=$(env_get SANDBOX_DJANGO_SECRET_KEY)
DEBUG=false
ALLOWED_HOSTS=127.0.0.1,localhost
DB_NAME=recorder
DB_USER=recorder
DB_PASSWORD=$(env_get SANDBOX_DB_PASSWORD)
DB_HOST=127.0.0.1
DB_PORT=5432
# plain HTTP on loopback: the TLS deploy checks do not apply here
SILENCED_SYSTEM_CHECKS=security.W004,security.W008,security.W012,security.W016
MAINTENANCE_FLAG=$WWW/maintenance/app.flag
MAINTENANCE_BYPASS=$(env_get SANDBOX_BYPASS_SECRET)
CONF
umask 022
chown deploy:deploy "$WWW/shared/app.env"

# --- units and the nginx site ---------------------------------------------------------------
install -m 0644 "$HERE"/units/*.service /etc/systemd/system/
for u in "$HERE"/units/*.service; do
  ln -sfn "/etc/systemd/system/${u##*/}" "/etc/systemd/system/multi-user.target.wants/${u##*/}"
done
install -m 0644 "$HERE/units/recorder_ed.nginx" /etc/nginx/sites-available/recorder_ed
install -m 0644 "$HERE/units/logformat.nginx" /etc/nginx/conf.d/deploy-sandbox-logformat.conf
ln -sfn /etc/nginx/sites-available/recorder_ed /etc/nginx/sites-enabled/recorder_ed
rm -f /etc/nginx/sites-enabled/default
nginx -tq

# --- PostgreSQL 14/main (started here without systemd; at boot by postgresql@14-main) -----------
pg_createcluster 14 main -p 5432 >/dev/null
pg_ctlcluster 14 main start
psql_pg() { sudo -u postgres psql -X -q -v ON_ERROR_STOP=1 "$@"; }
psql_pg -c "CREATE ROLE recorder LOGIN"
DB_PASSWORD=$(env_get SANDBOX_DB_PASSWORD)
printf 'ALTER ROLE recorder PASSWORD %s;\n' "'${DB_PASSWORD//\'/\'\'}'" | psql_pg
psql_pg -c "CREATE DATABASE recorder OWNER recorder"
( cd "$APP" && sudo -u deploy -H venv/bin/python manage.py migrate --noinput >/dev/null )
( cd "$APP" && SEED_PYBOT_PASSWORD=$(env_get SANDBOX_PYBOT_PASSWORD) \
    sudo --preserve-env=SEED_PYBOT_PASSWORD -u deploy -H venv/bin/python manage.py seed >/dev/null )
pg_ctlcluster 14 main stop
rm -f /root/sandbox.env /root/client.pub
