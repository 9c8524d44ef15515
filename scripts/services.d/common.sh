# Shared by scripts/services and scripts/faults (sourced, after they set $root): the paths under
# .run/, the ports and credentials from the environment, logging, process helpers, and the
# preparation of .run/ that every verb starts with.
# shellcheck shell=bash disable=SC2034,SC2154 # used by the other files; $root is the entry point's

run="$root/.run"
rmq="$run/rabbitmq"
cluster="$run/rabbitmq-cluster"
pg="$run/postgres"

amqp_port=${CONCERT_AMQP_PORT:-5672}
mgmt_port=${CONCERT_AMQP_MANAGEMENT_PORT:-15672}
prom_port=${CONCERT_RABBITMQ_PROMETHEUS_PORT:-15692}
dist_port=${CONCERT_RABBITMQ_DIST_PORT:-25672}
epmd_port=${CONCERT_EPMD_PORT:-4369}
pg_port=${CONCERT_PG_PORT:-5432}
pg_fsync=${CONCERT_PG_FSYNC:-on}
c_amqp_base=${CONCERT_CLUSTER_AMQP_PORT:-5681}
c_mgmt_base=${CONCERT_CLUSTER_MANAGEMENT_PORT:-15681}
c_dist_base=${CONCERT_CLUSTER_DIST_PORT:-25681}
c_epmd_port=${CONCERT_CLUSTER_EPMD_PORT:-4370}

user=concert
password=concert
database=concert

log() { printf 'services: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }
# A zombie counts as gone: it holds nothing, and waiting for it to go could last forever.
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null; }
pid_in() { [ -s "$1" ] && tr -dc '0-9' <"$1" || true; }
# Variable $2 of the environment process $1 was started with.
env_of() { tr '\0' '\n' 2>/dev/null <"/proc/$1/environ" | sed -n "/^$2=/{s///p;q}" || true; }

# Makes .run/. As root, the servers run as the `rabbitmq` and `postgres` users, who must be able
# to reach their folders. A checkout under a private home (mode 700) is not reachable: keep the
# data under /var/tmp then, with .run/rabbitmq and .run/postgres as links to it.
prepare_run() {
    local data
    mkdir -p "$run"
    if is_root && ! runuser -u postgres -- test -x "$run" 2>/dev/null; then
        data="/var/tmp/concert-services-$(printf '%s' "$root" | md5sum | cut -c1-12)"
        mkdir -p "$data"
        chmod 755 "$data"
        rmq="$data/rabbitmq"
        cluster="$data/rabbitmq-cluster"
        pg="$data/postgres"
        mkdir -p "$rmq" "$cluster" "$pg"
        [ -e "$run/rabbitmq" ] || ln -s "$rmq" "$run/rabbitmq"
        [ -e "$run/rabbitmq-cluster" ] || ln -s "$cluster" "$run/rabbitmq-cluster"
        [ -e "$run/postgres" ] || ln -s "$pg" "$run/postgres"
    fi
}
