#!/usr/bin/env bash
# Start the local servers the tests talk to, where they are not running already.
# Each check is a real connection attempt; each start is the Debian package's own command.
set -u

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 0.5; done
  echo "services: $2 did not open 127.0.0.1:$1" >&2
  return 1
}

if ! port_open 5432; then
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    wait_port 5432 PostgreSQL || true
  else
    echo "services: PostgreSQL is not installed; tests that need it will say so" >&2
  fi
fi

if ! port_open 6379; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "services: starting Redis"
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
    wait_port 6379 Redis || true
  else
    echo "services: Redis is not installed; tests that need it will say so" >&2
  fi
fi

if ! port_open 5672; then
  if command -v rabbitmq-server >/dev/null 2>&1; then
    echo "services: starting RabbitMQ"
    rabbitmq-server -detached || true
    wait_port 5672 RabbitMQ || true
  else
    echo "services: RabbitMQ is not installed; tests that need it will say so" >&2
  fi
fi
exit 0
