# The single RabbitMQ node (rabbit@localhost, data under .run/rabbitmq): its environment, CLI
# tools, pid and epmd, port checks, start (`up`) and stop (`down`).
# shellcheck shell=bash disable=SC2154 # its variables are set in common.sh and by the entry point

rabbit_env() {
    export RABBITMQ_NODENAME=rabbit@localhost
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    export RABBITMQ_NODE_PORT=$amqp_port
    export RABBITMQ_DIST_PORT=$dist_port
    export ERL_EPMD_PORT=$epmd_port
    export ERL_EPMD_ADDRESS=127.0.0.1
    export RABBITMQ_MNESIA_BASE=$rmq/mnesia
    export RABBITMQ_LOG_BASE=$rmq/log
    export RABBITMQ_PID_FILE=$rmq/rabbit.pid
    export RABBITMQ_ENABLED_PLUGINS_FILE=$rmq/enabled_plugins
    export RABBITMQ_CONFIG_FILE=$rmq/rabbitmq.conf
    export RABBITMQ_ADVANCED_CONFIG_FILE=$rmq/advanced.config
    # Erlang schedulers spin a while before they sleep; on a small machine shared with the
    # database and the application that spinning takes cores the others need.
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+sbwt none +sbwtdcpu none +sbwtdio none"
    if ! is_root; then export HOME=$rmq/home; fi
}

# Runs a RabbitMQ CLI tool as the user that owns the node's cookie.
rabbit_tool() {
    local tool=$1; shift
    rabbit_env
    if is_root; then "/usr/sbin/$tool" "$@"; else "/usr/lib/rabbitmq/bin/$tool" "$@"; fi
}

# Whether pid $1 is alive and is our node's process named $2 (beam.smp, epmd): both carry our
# data folder in their environment (epmd inherits it from the node that started it). A stale pid
# whose number now belongs to another program, or another checkout's or the system's node, is not.
ours_rabbit() {
    alive "$1" && [ "$(cat "/proc/$1/comm" 2>/dev/null || true)" = "$2" ] \
        && [ "$(env_of "$1" RABBITMQ_MNESIA_BASE)" = "$rmq/mnesia" ]
}

rabbit_pid() {
    local pid
    pid=$(pid_in "$rmq/rabbit.pid")
    if ours_rabbit "$pid" beam.smp; then echo "$pid"; fi
}

# Our epmd on our epmd port. It outlives the node; `up` records it in epmd.pid for `down`.
epmd_pid() {
    local pid
    while read -r pid; do
        if ours_rabbit "$pid" epmd; then echo "$pid"; return 0; fi
    done < <(port_pids "$epmd_port")
}

record_epmd() {
    local pid
    pid=$(epmd_pid)
    if [ -n "$pid" ]; then echo "$pid" >"$rmq/epmd.pid"; fi
}

# The ports our running node $1 was started with: from its environment, the management port from
# the config file written when it started (the Prometheus port too: 15692, the plugin's default,
# for a node started before it was configured).
rabbit_ports_of() {
    local prometheus
    prometheus=$(sed -n 's/^prometheus\.tcp\.port = //p' "$rmq/rabbitmq.conf" 2>/dev/null || true)
    printf 'amqp %s, management %s, prometheus %s, distribution %s, epmd %s' "$(env_of "$1" RABBITMQ_NODE_PORT)" \
        "$(sed -n 's/^management\.tcp\.port = //p' "$rmq/rabbitmq.conf" 2>/dev/null || true)" "${prometheus:-15692}" \
        "$(env_of "$1" RABBITMQ_DIST_PORT)" "$(env_of "$1" ERL_EPMD_PORT)"
}
rabbit_ports_asked() { printf 'amqp %s, management %s, prometheus %s, distribution %s, epmd %s' "$amqp_port" "$mgmt_port" "$prom_port" "$dist_port" "$epmd_port"; }

# Whether RabbitMQ may be started or kept: ours runs with the asked ports, or none of ours runs
# and its ports are free. Logs each problem.
rabbit_check() {
    local pid ok=0
    pid=$(rabbit_pid)
    if [ -n "$pid" ]; then
        [ "$(rabbit_ports_of "$pid")" != "$(rabbit_ports_asked)" ] || return 0
        log "this checkout's RabbitMQ already runs (pid $pid) with other ports ($(rabbit_ports_of "$pid")); set those, or stop it first with scripts/services down"
        return 1
    fi
    port_free "$amqp_port" "RabbitMQ AMQP" CONCERT_AMQP_PORT || ok=1
    port_free "$mgmt_port" "RabbitMQ management" CONCERT_AMQP_MANAGEMENT_PORT || ok=1
    port_free "$prom_port" "RabbitMQ Prometheus metrics" CONCERT_RABBITMQ_PROMETHEUS_PORT || ok=1
    port_free "$dist_port" "RabbitMQ distribution" CONCERT_RABBITMQ_DIST_PORT || ok=1
    # Only an epmd our node started will do: `down` stops it, and no other node has our name there.
    port_free "$epmd_port" "epmd" CONCERT_EPMD_PORT "$(epmd_pid)" || ok=1
    return $ok
}

# Ours, with the asked ports (so rabbitmqctl, which finds the node by name through the epmd on
# our port, talks to it), and booted.
rabbit_ready() {
    local pid
    pid=$(rabbit_pid)
    [ -n "$pid" ] && [ "$(rabbit_ports_of "$pid")" = "$(rabbit_ports_asked)" ] \
        && rabbit_tool rabbitmqctl -q await_startup --timeout 1 >/dev/null 2>&1
}

rabbit_up() {
    rabbit_check || die_ports "not starting RabbitMQ"
    local pid
    pid=$(rabbit_pid)
    if [ -n "$pid" ] && rabbit_ready; then
        log "RabbitMQ already runs (pid $pid, amqp 127.0.0.1:$amqp_port, management :$mgmt_port)"
        rabbit_prometheus
        return 0
    fi
    if [ -n "$pid" ]; then
        # Ours but not ready (still booting, or its app stopped): wait for it, never start a second node.
        log "RabbitMQ (pid $pid) runs but is not ready; waiting for it"
    else
        mkdir -p "$rmq/mnesia" "$rmq/log" "$rmq/home"
        printf '[rabbitmq_management,rabbitmq_prometheus].\n' >"$rmq/enabled_plugins"
        cat >"$rmq/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$amqp_port
management.tcp.port = $mgmt_port
management.tcp.ip = 127.0.0.1
prometheus.tcp.port = $prom_port
prometheus.tcp.ip = 127.0.0.1
loopback_users = none
log.file.level = info
CONF
        printf '[].\n' >"$rmq/advanced.config"
        # Stale (its pid is not ours): the loop below takes a pid in it for the new node's.
        rm -f "$rmq/rabbit.pid"
        if is_root; then chown -R rabbitmq:rabbitmq "$rmq"; fi

        log "starting RabbitMQ on 127.0.0.1:$amqp_port (management :$mgmt_port, logs in $rmq/log)"
        rabbit_tool rabbitmq-server -detached >"$rmq/log/start.out" 2>&1 \
            || die "rabbitmq-server did not start; see $rmq/log/start.out and $rmq/log/"
    fi

    # await_startup exits at once while the node is not yet registered with epmd: loop.
    local deadline=$((SECONDS + 90))
    until rabbit_tool rabbitmqctl -q await_startup --timeout 5 >/dev/null 2>&1; do
        # Recorded as soon as it runs, so that `down` stops it even if this start fails.
        record_epmd
        pid=$(pid_in "$rmq/rabbit.pid")
        if [ -n "$pid" ] && ! alive "$pid"; then
            rabbit_check || true # a port taken meanwhile is the likely cause: name its holder
            die "RabbitMQ stopped while starting; see $rmq/log/"
        fi
        [ $SECONDS -lt $deadline ] || die "RabbitMQ did not become ready in 90 s; see $rmq/log/"
        sleep 0.5
    done
    record_epmd

    rabbit_tool rabbitmqctl -q add_user "$user" "$password" >/dev/null 2>&1 \
        || rabbit_tool rabbitmqctl -q change_password "$user" "$password" >/dev/null
    rabbit_tool rabbitmqctl -q set_user_tags "$user" administrator >/dev/null
    rabbit_tool rabbitmqctl -q set_permissions -p / "$user" '.*' '.*' '.*' >/dev/null
    rabbit_prometheus

    deadline=$((SECONDS + 60))
    until curl -fsS -u "$user:$password" "http://127.0.0.1:$mgmt_port/api/overview" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || die "RabbitMQ management API did not answer on :$mgmt_port; see $rmq/log/"
        sleep 0.5
    done
    log "RabbitMQ ready (pid $(rabbit_pid))"
}

# Its metrics for Prometheus (/metrics, /metrics/detailed): in enabled_plugins of a node started
# now, enabled here on one started before that (it then listens on the plugin's default port, 15692).
rabbit_prometheus() {
    grep -q rabbitmq_prometheus "$rmq/enabled_plugins" 2>/dev/null \
        || rabbit_tool rabbitmq-plugins -q enable rabbitmq_prometheus >/dev/null
}

# Stops what rabbit_up started, by pid and only if it still is ours.
rabbit_down() {
    local pid
    pid=$(rabbit_pid)
    if [ -n "$pid" ]; then
        log "stopping RabbitMQ (pid $pid)"
        # A signal, not `rabbitmqctl stop`: that stops whichever node has our name on the epmd port
        # of the current environment, which need not be ours. RabbitMQ stops cleanly on SIGTERM.
        kill "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + 30))
        while alive "$pid"; do
            if [ $SECONDS -ge $deadline ]; then kill -9 "$pid" 2>/dev/null || true; fi
            sleep 0.2
        done
    fi
    rm -f "$rmq/rabbit.pid"
    # The recorded epmd, and ours on the current port should `up` have failed before recording it.
    for pid in "$(pid_in "$rmq/epmd.pid")" "$(epmd_pid)"; do
        if ours_rabbit "$pid" epmd; then
            log "stopping epmd (pid $pid)"
            kill "$pid" 2>/dev/null || true
            while alive "$pid"; do sleep 0.1; done
        fi
    done
    rm -f "$rmq/epmd.pid"
}
