# The RabbitMQ cluster of `up --cluster N`: nodes n1@localhost … nN@localhost, each with its own
# ports and data under .run/rabbitmq-cluster/nI, sharing an epmd of their own.
# shellcheck shell=bash disable=SC2154 # its variables are set in common.sh and by the entry point

# Every helper runs in a subshell, so one node's environment never leaks into another's (or the
# single node's).

cluster_ports_valid() {
    local pair
    for pair in "CONCERT_CLUSTER_AMQP_PORT=$c_amqp_base" "CONCERT_CLUSTER_MANAGEMENT_PORT=$c_mgmt_base" \
        "CONCERT_CLUSTER_DIST_PORT=$c_dist_base" "CONCERT_CLUSTER_EPMD_PORT=$c_epmd_port"; do
        if ! [[ ${pair#*=} =~ ^[1-9][0-9]{0,4}$ ]] || [ "${pair#*=}" -gt 65000 ]; then
            die "${pair%%=*} must be a port number (1-65000), not '${pair#*=}'"
        fi
    done
}

node_amqp_port() { echo $((c_amqp_base + $1 - 1)); }
node_mgmt_port() { echo $((c_mgmt_base + $1 - 1)); }
node_dist_port() { echo $((c_dist_base + $1 - 1)); }

node_env() {
    local dir="$cluster/n$1"
    export RABBITMQ_NODENAME="n$1@localhost"
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    RABBITMQ_NODE_PORT=$(node_amqp_port "$1")
    RABBITMQ_DIST_PORT=$(node_dist_port "$1")
    export RABBITMQ_NODE_PORT RABBITMQ_DIST_PORT
    export ERL_EPMD_PORT=$c_epmd_port
    export ERL_EPMD_ADDRESS=127.0.0.1
    export RABBITMQ_MNESIA_BASE=$dir/mnesia
    export RABBITMQ_LOG_BASE=$dir/log
    export RABBITMQ_PID_FILE=$dir/rabbit.pid
    export RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins
    export RABBITMQ_CONFIG_FILE=$dir/rabbitmq.conf
    export RABBITMQ_ADVANCED_CONFIG_FILE=$dir/advanced.config
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+sbwt none +sbwtdcpu none +sbwtdio none"
    # One Erlang cookie for all nodes: as root the wrappers use the rabbitmq user's; else a shared home.
    if ! is_root; then export HOME=$cluster/home; fi
}

# node_tool N TOOL ARGS...: a RabbitMQ CLI tool against node N.
node_tool() {
    local node=$1 tool=$2
    shift 2
    (
        node_env "$node"
        if is_root; then exec "/usr/sbin/$tool" "$@"; else exec "/usr/lib/rabbitmq/bin/$tool" "$@"; fi
    )
}

# Pid of cluster node N's beam.smp, if it runs and is ours.
node_pid() {
    local pid
    pid=$(pid_in "$cluster/n$1/rabbit.pid")
    if alive "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = beam.smp ] \
        && [ "$(env_of "$pid" RABBITMQ_MNESIA_BASE)" = "$cluster/n$1/mnesia" ]; then echo "$pid"; fi
}

# The nodes this checkout's cluster has (folders under $cluster), one number a line.
cluster_nodes() {
    local dir
    for dir in "$cluster"/n[0-9]*; do
        if [ -d "$dir" ]; then echo "${dir##*/n}"; fi
    done | sort -n
}

# The cluster's epmd: listens on its port and was started by one of our nodes.
cluster_epmd_pid() {
    local pid
    while read -r pid; do
        if alive "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = epmd ] \
            && [[ $(env_of "$pid" RABBITMQ_MNESIA_BASE) == "$cluster"/n*/mnesia ]]; then echo "$pid"; return 0; fi
    done < <(port_pids "$c_epmd_port")
}

# Whether nodes 1..$1 may be started or kept: each one runs already, or its ports are free.
cluster_check() {
    local size=$1 node ok=0
    for node in $(seq 1 "$size"); do
        [ -z "$(node_pid "$node")" ] || continue
        port_free "$(node_amqp_port "$node")" "cluster node $node AMQP" CONCERT_CLUSTER_AMQP_PORT || ok=1
        port_free "$(node_mgmt_port "$node")" "cluster node $node management" CONCERT_CLUSTER_MANAGEMENT_PORT || ok=1
        port_free "$(node_dist_port "$node")" "cluster node $node distribution" CONCERT_CLUSTER_DIST_PORT || ok=1
    done
    port_free "$c_epmd_port" "the cluster's epmd" CONCERT_CLUSTER_EPMD_PORT "$(cluster_epmd_pid)" || ok=1
    return $ok
}

# Starts node N (detached) unless it runs; waiting is node_await's.
node_start() {
    local node=$1 dir="$cluster/n$1"
    [ -z "$(node_pid "$node")" ] || return 0
    mkdir -p "$dir/mnesia" "$dir/log" "$cluster/home"
    printf '[rabbitmq_management].\n' >"$dir/enabled_plugins"
    # autoheal: should a node come back from a pause the others took for a crash, the cluster
    # heals on its own instead of staying split.
    cat >"$dir/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$(node_amqp_port "$node")
management.tcp.port = $(node_mgmt_port "$node")
management.tcp.ip = 127.0.0.1
loopback_users = none
log.file.level = info
cluster_partition_handling = autoheal
CONF
    printf '[].\n' >"$dir/advanced.config"
    rm -f "$dir/rabbit.pid"
    if is_root; then chown -R rabbitmq:rabbitmq "$cluster"; fi
    log "starting cluster node n$node@localhost on 127.0.0.1:$(node_amqp_port "$node") (management :$(node_mgmt_port "$node"), logs in $dir/log)"
    node_tool "$node" rabbitmq-server -detached >"$dir/log/start.out" 2>&1 \
        || die "rabbitmq-server did not start node $node; see $dir/log/start.out and $dir/log/"
}

node_await() {
    local node=$1 deadline=$((SECONDS + 120)) pid
    until node_tool "$node" rabbitmqctl -q await_startup --timeout 5 >/dev/null 2>&1; do
        pid=$(pid_in "$cluster/n$node/rabbit.pid")
        if [ -n "$pid" ] && ! alive "$pid"; then die "cluster node $node stopped while starting; see $cluster/n$node/log/"; fi
        [ $SECONDS -lt $deadline ] || die "cluster node $node did not become ready in 120 s; see $cluster/n$node/log/"
        sleep 0.5
    done
}

# The running members of the cluster as node 1 (or the first running node) sees them, one a line.
cluster_running() {
    local node
    for node in $(cluster_nodes); do
        [ -n "$(node_pid "$node")" ] || continue
        node_tool "$node" rabbitmqctl -q cluster_status --formatter json 2>/dev/null \
            | python3 -c 'import json, sys; print("\n".join(json.load(sys.stdin).get("running_nodes", [])))' 2>/dev/null && return 0
    done
}

cluster_members() {
    node_tool 1 rabbitmqctl -q cluster_status --formatter json 2>/dev/null \
        | python3 -c 'import json, sys; print("\n".join(json.load(sys.stdin).get("disk_nodes", [])))' 2>/dev/null || true
}

cluster_up() {
    local size=$1 node deadline
    [[ $size =~ ^[1-9]$ ]] || die "--cluster takes a node count from 1 to 9, not '$size'"
    cluster_ports_valid
    cluster_check "$size" || die_ports "not starting the cluster"
    for node in $(seq 1 "$size"); do node_start "$node"; done
    for node in $(seq 1 "$size"); do node_await "$node"; done
    # Nodes 2…N join node 1 once; after that they rejoin by themselves whenever they start.
    for node in $(seq 2 "$size"); do
        if ! cluster_members | grep -qx "n$node@localhost"; then
            log "joining n$node@localhost to n1@localhost"
            # The CLI prints the joining node's start-up warnings: kept in its log folder.
            {
                node_tool "$node" rabbitmqctl -q stop_app && node_tool "$node" rabbitmqctl -q reset \
                    && node_tool "$node" rabbitmqctl -q join_cluster n1@localhost \
                    && node_tool "$node" rabbitmqctl -q start_app
            } >"$cluster/n$node/log/join.out" 2>&1 \
                || die "n$node@localhost could not join the cluster; see $cluster/n$node/log/join.out"
        fi
    done
    deadline=$((SECONDS + 60))
    until [ "$(cluster_running | grep -c '@localhost')" -ge "$size" ]; do
        [ $SECONDS -lt $deadline ] || die "the cluster does not show $size running nodes: $(cluster_running | tr '\n' ' ')"
        sleep 0.5
    done
    node_tool 1 rabbitmqctl -q add_user "$user" "$password" >/dev/null 2>&1 \
        || node_tool 1 rabbitmqctl -q change_password "$user" "$password" >/dev/null
    node_tool 1 rabbitmqctl -q set_user_tags "$user" administrator >/dev/null
    node_tool 1 rabbitmqctl -q set_permissions -p / "$user" '.*' '.*' '.*' >/dev/null
    for node in $(seq 1 "$size"); do
        deadline=$((SECONDS + 60))
        until curl -fsS -u "$user:$password" "http://127.0.0.1:$(node_mgmt_port "$node")/api/overview" >/dev/null 2>&1; do
            [ $SECONDS -lt $deadline ] || die "management API of node $node did not answer on :$(node_mgmt_port "$node")"
            sleep 0.5
        done
    done
    log "RabbitMQ cluster ready: $(cluster_running | tr '\n' ' ')"
}

cluster_down() {
    local node pid
    for node in $(cluster_nodes); do
        pid=$(node_pid "$node")
        [ -n "$pid" ] || continue
        log "stopping cluster node n$node@localhost (pid $pid)"
        kill -CONT "$pid" 2>/dev/null || true # a paused node cannot stop
        kill "$pid" 2>/dev/null || true
    done
    for node in $(cluster_nodes); do
        pid=$(pid_in "$cluster/n$node/rabbit.pid")
        local deadline=$((SECONDS + 30))
        while [ -n "$(node_pid "$node")" ]; do
            if [ $SECONDS -ge $deadline ]; then kill -9 "$pid" 2>/dev/null || true; fi
            sleep 0.2
        done
    done
    pid=$(cluster_epmd_pid)
    if [ -n "$pid" ]; then
        log "stopping the cluster's epmd (pid $pid)"
        kill "$pid" 2>/dev/null || true
        while alive "$pid"; do sleep 0.1; done
    fi
}

cluster_status() {
    local node pid running
    running=" $(cluster_running | tr '\n' ' ') "
    for node in $(cluster_nodes); do
        pid=$(node_pid "$node")
        if [ -z "$pid" ]; then echo "cluster n$node: stopped"
        elif grep -q '^[0-9]* (.*) T' "/proc/$pid/stat" 2>/dev/null; then echo "cluster n$node: paused (pid $pid)"
        elif [[ $running == *" n$node@localhost "* ]]; then
            echo "cluster n$node: running (pid $pid, amqp 127.0.0.1:$(node_amqp_port "$node"), management :$(node_mgmt_port "$node"))"
        else echo "cluster n$node: not a running member (pid $pid; logs in $cluster/n$node/log)"
        fi
    done
}
