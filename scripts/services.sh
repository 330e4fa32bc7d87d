#!/usr/bin/env bash
# Make sure PostgreSQL (127.0.0.1:5432, trust auth, user postgres) and MariaDB
# (127.0.0.1:3306, root without password) run, for the multi-process store tests, and
# that Debian's chromium is there for the dashboard test.
# Installs them from Debian's packages when absent. Needs root (CI runs as root).
set -u

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() { for _ in $(seq 1 60); do listening "$1" && return 0; sleep 0.5; done; return 1; }
apt_updated=0
install() {
  if [ "$apt_updated" = 0 ]; then apt-get update -qq >/dev/null && apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! listening 5432; then
  echo "services: starting PostgreSQL"
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then install postgresql; fi
  ver=$(ls /etc/postgresql | sort -n | tail -1)
  hba=/etc/postgresql/$ver/main/pg_hba.conf
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  wait_for 5432 || echo "services: PostgreSQL did not start" >&2
fi

if ! listening 3306; then
  echo "services: starting MariaDB"
  if [ ! -x /usr/sbin/mariadbd ]; then install mariadb-server; fi
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  if wait_for 3306; then
    mariadb -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD(''); \
      CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''; \
      GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; FLUSH PRIVILEGES;" 2>/dev/null || true
  else
    echo "services: MariaDB did not start" >&2
  fi
fi
if ! command -v chromium >/dev/null 2>&1; then
  echo "services: installing chromium (headless browser for the dashboard test)"
  install chromium || echo "services: chromium could not be installed" >&2
fi
exit 0
