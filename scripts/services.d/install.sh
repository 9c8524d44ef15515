# Installs the Debian packages `up` needs when they are missing (as root, via apt-get).
# pg_bindir is postgres.sh's.
# shellcheck shell=bash disable=SC2154 # its variables are set in common.sh and by the entry point

install_packages() {
    local missing=()
    [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)
    { [ -f /usr/include/amqp.h ] || [ -f /usr/include/rabbitmq-c/amqp.h ]; } || missing+=(librabbitmq-dev)
    [ -n "$(pg_bindir)" ] || missing+=(postgresql)
    command -v curl >/dev/null || missing+=(curl)
    command -v pkg-config >/dev/null || missing+=(pkg-config)
    # ss: the tests read sockets' keepalive timers with it.
    command -v ss >/dev/null || missing+=(iproute2)
    # The highly available PostgreSQL of `up --pg-ha` (Patroni's etcd client is python3-etcd).
    if [ "${pg_ha:-0}" = 1 ]; then
        command -v patroni >/dev/null || missing+=(patroni)
        command -v etcd >/dev/null || missing+=(etcd-server)
        command -v haproxy >/dev/null || missing+=(haproxy)
        python3 -c 'import etcd' 2>/dev/null || missing+=(python3-etcd)
    fi
    [ ${#missing[@]} -eq 0 ] && return 0
    is_root || die "missing Debian packages: ${missing[*]} (install them as root: apt-get install ${missing[*]})"
    log "installing ${missing[*]}"
    apt-get update -qq >"$run/apt.log" 2>&1 || die "apt-get update failed; see $run/apt.log"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >>"$run/apt.log" 2>&1 \
        || die "apt-get install failed; see $run/apt.log"
}
