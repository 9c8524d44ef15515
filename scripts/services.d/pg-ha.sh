# PostgreSQL that survives its primary's death (`up --pg-ha`): one etcd member, two PostgreSQL
# members under Patroni (synchronous_mode, synchronous_commit = on: a commit is acknowledged only
# once the synchronous standby has it, and only that standby may be promoted), and HAProxy routing
# one port to the current leader (Patroni's REST `/primary`) and another to the replicas. All on
# loopback ports of their own, data under .run/pg-ha/; it runs beside the single PostgreSQL.
# `pg-node N ACTION` is what the failover test does to member N.
# shellcheck shell=bash disable=SC2154 # its variables are set in common.sh and by the entry point

pgha="$run/pg-ha"
ha_members=2
ha_port=${CONCERT_PG_HA_PORT:-5440}
ha_replica_port=${CONCERT_PG_HA_REPLICA_PORT:-5441}
ha_node_base=${CONCERT_PG_HA_NODE_PORT:-5442}
ha_rest_base=${CONCERT_PATRONI_PORT:-8008}
etcd_port=${CONCERT_ETCD_PORT:-2379}
etcd_peer_port=${CONCERT_ETCD_PEER_PORT:-2380}
# Patroni's timing: the leader key lives `ttl` seconds unless renewed (a paused leader loses it
# then); every `loop_wait` seconds each member looks again.
ha_ttl=10
ha_superuser_password=concert-patroni-superuser
ha_replication_password=concert-patroni-replication

ha_node_port() { echo $((ha_node_base + $1 - 1)); }
ha_rest_port() { echo $((ha_rest_base + $1 - 1)); }

ha_ports_valid() {
    local pair
    for pair in "CONCERT_PG_HA_PORT=$ha_port" "CONCERT_PG_HA_REPLICA_PORT=$ha_replica_port" "CONCERT_PG_HA_NODE_PORT=$ha_node_base" \
        "CONCERT_PATRONI_PORT=$ha_rest_base" "CONCERT_ETCD_PORT=$etcd_port" "CONCERT_ETCD_PEER_PORT=$etcd_peer_port"; do
        if ! [[ ${pair#*=} =~ ^[1-9][0-9]{0,4}$ ]] || [ "${pair#*=}" -gt 65000 ]; then
            die "${pair%%=*} must be a port number (1-65000), not '${pair#*=}'"
        fi
    done
}

# Pid files: each process is started through `ha_spawn`, which writes its pid.
ha_pid() {
    local pid
    pid=$(pid_in "$pgha/$1.pid")
    if alive "$pid"; then echo "$pid"; fi
}
# Runs "$@" in the background in a session of its own, every descriptor redirected (so the caller's
# pipes close when it returns), as the postgres user when root; its pid goes to $pgha/$1.pid.
ha_spawn() {
    local name=$1 pidfile="$pgha/$1.pid"
    shift
    local as=()
    if is_root; then as=(setpriv --reuid=postgres --regid=postgres --init-groups); fi
    # shellcheck disable=SC2016 # expanded by the inner shell
    setsid sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$pidfile" "${as[@]}" "$@" \
        </dev/null >>"$pgha/log/$name.log" 2>&1 &
    local deadline=$((SECONDS + 5))
    until [ -s "$pidfile" ]; do
        [ $SECONDS -lt $deadline ] || die "$name did not start; see $pgha/log/$name.log"
        sleep 0.05
    done
}

# The member's postmaster (postmaster.pid, alive, running that data folder).
ha_postmaster() {
    local data="$pgha/pg$1/data" pid=""
    if [ -s "$data/postmaster.pid" ]; then pid=$(head -n 1 "$data/postmaster.pid" | tr -dc '0-9'); fi
    alive "$pid" || return 0
    if tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline" | grep -xF -- "$data" >/dev/null; then echo "$pid"; fi
}

# HTTP status of Patroni's REST endpoint $2 on member $1 (000 when it does not answer).
ha_rest() { curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:$(ha_rest_port "$1")$2" 2>/dev/null || true; }
# The first member whose Patroni answers endpoint $1 with 200, if any.
ha_member_answering() {
    local n
    for n in $(seq 1 $ha_members); do
        if [ "$(ha_rest "$n" "$1")" = 200 ]; then echo "$n"; return 0; fi
    done
}
# The member that leads now, and the synchronous standby.
ha_leader() { ha_member_answering /primary; }
ha_sync_standby() { ha_member_answering /sync; }

ha_check() {
    local n rc=0
    ha_ports_valid
    [ -n "$(ha_pid etcd)" ] || { port_free "$etcd_port" etcd CONCERT_ETCD_PORT || rc=1; port_free "$etcd_peer_port" "etcd (peers)" CONCERT_ETCD_PEER_PORT || rc=1; }
    [ -n "$(ha_pid haproxy)" ] || { port_free "$ha_port" "HAProxy (the leader)" CONCERT_PG_HA_PORT || rc=1; port_free "$ha_replica_port" "HAProxy (replicas)" CONCERT_PG_HA_REPLICA_PORT || rc=1; }
    for n in $(seq 1 $ha_members); do
        [ -n "$(ha_pid "patroni$n")" ] && continue
        port_free "$(ha_node_port "$n")" "PostgreSQL member $n" CONCERT_PG_HA_NODE_PORT || rc=1
        port_free "$(ha_rest_port "$n")" "Patroni member $n's REST API" CONCERT_PATRONI_PORT || rc=1
    done
    return $rc
}

ha_write_configuration() {
    local n bin
    bin=$(pg_bindir) || die "PostgreSQL binaries not found under /usr/lib/postgresql"
    for n in $(seq 1 $ha_members); do
        mkdir -p "$pgha/pg$n/socket"
        cat >"$pgha/pg$n/patroni.yml" <<EOF
# Written by scripts/services up --pg-ha.
scope: concert
namespace: /concert-services/
name: pg$n
log:
  level: WARNING
restapi:
  listen: 127.0.0.1:$(ha_rest_port "$n")
  connect_address: 127.0.0.1:$(ha_rest_port "$n")
etcd:
  host: 127.0.0.1:$etcd_port
bootstrap:
  dcs:
    ttl: $ha_ttl
    loop_wait: 2
    retry_timeout: 4
    maximum_lag_on_failover: 1048576
    # A crashed primary is not restarted in place: the synchronous standby takes over at once.
    primary_start_timeout: 0
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        synchronous_commit: "on"
        wal_log_hints: "on"
        max_connections: 300
        shared_buffers: 256MB
        fsync: "$pg_fsync"
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - auth-host: scram-sha-256
    - auth-local: trust
  pg_hba:
    - local all all trust
    - host replication replicator 127.0.0.1/32 scram-sha-256
    - host all all 127.0.0.1/32 scram-sha-256
postgresql:
  listen: 127.0.0.1:$(ha_node_port "$n")
  connect_address: 127.0.0.1:$(ha_node_port "$n")
  data_dir: $pgha/pg$n/data
  bin_dir: $bin
  pgpass: $pgha/pg$n/pgpass
  authentication:
    superuser: {username: postgres, password: $ha_superuser_password}
    replication: {username: replicator, password: $ha_replication_password}
  parameters:
    unix_socket_directories: $pgha/pg$n/socket
watchdog:
  mode: off
EOF
    done
    cat >"$pgha/haproxy.cfg" <<EOF
# Written by scripts/services up --pg-ha. Port $ha_port: the member whose Patroni answers /primary
# with 200; port $ha_replica_port: the replicas. A member that stops answering is marked down within
# about a second, and its sessions are closed.
global
    maxconn 2000
defaults
    mode tcp
    timeout connect 2s
    timeout client 60m
    timeout server 60m
    timeout check 1s
    default-server inter 500ms fall 2 rise 1 on-marked-down shutdown-sessions
listen leader
    bind 127.0.0.1:$ha_port
    option httpchk OPTIONS /primary
    http-check expect status 200
$(for n in $(seq 1 $ha_members); do echo "    server pg$n 127.0.0.1:$(ha_node_port "$n") maxconn 600 check port $(ha_rest_port "$n")"; done)
listen replicas
    bind 127.0.0.1:$ha_replica_port
    balance roundrobin
    option httpchk OPTIONS /replica
    http-check expect status 200
$(for n in $(seq 1 $ha_members); do echo "    server pg$n 127.0.0.1:$(ha_node_port "$n") maxconn 600 check port $(ha_rest_port "$n")"; done)
EOF
}

# Patroni of member $1, started unless it runs.
ha_member_start() {
    [ -z "$(ha_pid "patroni$1")" ] || return 0
    mkdir -p "$pgha/pg$1"
    # Patroni wants the data folder to be the owner's alone.
    if is_root; then chown -R postgres:postgres "$pgha"; fi
    log "starting Patroni member pg$1 (PostgreSQL 127.0.0.1:$(ha_node_port "$1"), REST :$(ha_rest_port "$1"); log in $pgha/log/patroni$1.log)"
    ha_spawn "patroni$1" patroni "$pgha/pg$1/patroni.yml"
}

# Waits until member $1 runs as the leader or as a streaming replica.
ha_member_await() {
    local deadline=$((SECONDS + ${2:-120}))
    until [ "$(ha_rest "$1" /health)" = 200 ]; do
        [ $SECONDS -lt $deadline ] || die "Patroni member pg$1 did not get its PostgreSQL running; see $pgha/log/patroni$1.log"
        alive "$(ha_pid "patroni$1")" || die "Patroni member pg$1 ended; see $pgha/log/patroni$1.log"
        sleep 0.5
    done
}

pg_ha_up() {
    local n leader bin
    command -v patroni >/dev/null && command -v etcd >/dev/null && command -v haproxy >/dev/null \
        || die "patroni, etcd and haproxy are needed (install_packages installs them as root)"
    ha_check || die_ports "not starting the PostgreSQL HA setup"
    mkdir -p "$pgha/log"
    ha_write_configuration
    if [ -z "$(ha_pid etcd)" ]; then
        log "starting etcd on 127.0.0.1:$etcd_port (log in $pgha/log/etcd.log)"
        mkdir -p "$pgha/etcd"
        if is_root; then chown -R postgres:postgres "$pgha"; fi
        ha_spawn etcd etcd --name concert-services --data-dir "$pgha/etcd" --enable-v2 \
            --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
            --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
            --initial-cluster "concert-services=http://127.0.0.1:$etcd_peer_port"
    fi
    local deadline=$((SECONDS + 30))
    until curl -sf -m 1 "http://127.0.0.1:$etcd_port/health" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || die "etcd does not answer; see $pgha/log/etcd.log"
        sleep 0.2
    done
    # The first member bootstraps the cluster; the second then copies it.
    ha_member_start 1
    ha_member_await 1 120
    for n in $(seq 2 $ha_members); do ha_member_start "$n"; done
    for n in $(seq 2 $ha_members); do ha_member_await "$n" 180; done
    if [ -z "$(ha_pid haproxy)" ]; then
        log "starting HAProxy: leader on 127.0.0.1:$ha_port, replicas on :$ha_replica_port (log in $pgha/log/haproxy.log)"
        ha_spawn haproxy haproxy -db -f "$pgha/haproxy.cfg"
    fi
    deadline=$((SECONDS + 60))
    until leader=$(ha_leader) && [ -n "$leader" ]; do
        [ $SECONDS -lt $deadline ] || die "no Patroni member leads; see $pgha/log/patroni*.log"
        sleep 0.5
    done
    local psql_admin=(psql -qAtX -h "$pgha/pg$leader/socket" -p "$(ha_node_port "$leader")" -U postgres -d postgres -v ON_ERROR_STOP=1)
    if [ "$(as_pg_owner "${psql_admin[@]}" -c "select 1 from pg_roles where rolname = '$user'")" != 1 ]; then
        as_pg_owner "${psql_admin[@]}" -c "create role $user login createdb password '$password'" >/dev/null
    fi
    if [ "$(as_pg_owner "${psql_admin[@]}" -c "select 1 from pg_database where datname = '$database'")" != 1 ]; then
        as_pg_owner "${psql_admin[@]}" -c "create database $database owner $user" >/dev/null
    fi
    # Ready: the leader takes writes through HAProxy, and a synchronous standby is in place.
    deadline=$((SECONDS + 60))
    until PGPASSWORD=$password psql -qAtX -h 127.0.0.1 -p "$ha_port" -U "$user" -d "$database" -c 'select 1' >/dev/null 2>&1 \
        && [ -n "$(ha_sync_standby)" ]; do
        [ $SECONDS -lt $deadline ] || die "the HA setup did not become ready (a writable leader behind :$ha_port and a synchronous standby); see $pgha/log/"
        sleep 0.5
    done
    log "PostgreSQL HA ready: leader pg$leader, synchronous standby pg$(ha_sync_standby), HAProxy 127.0.0.1:$ha_port"
}

# Stops HAProxy, the members (Patroni stops its PostgreSQL), then etcd: what `up --pg-ha` started.
pg_ha_down() {
    local name pid n
    [ -d "$pgha" ] || return 0
    for name in haproxy $(for n in $(seq 1 $ha_members); do echo "patroni$n"; done) etcd; do
        pid=$(ha_pid "$name")
        [ -n "$pid" ] || continue
        log "stopping $name (pid $pid)"
        kill -CONT "$pid" 2>/dev/null || true
        kill "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + 30))
        while alive "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
        if alive "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
    done
    # A postmaster whose Patroni was killed outlives it.
    for n in $(seq 1 $ha_members); do
        pid=$(ha_postmaster "$n")
        if [ -n "$pid" ]; then
            kill -CONT "$pid" 2>/dev/null || true
            as_pg_owner "$(pg_bindir)/pg_ctl" -D "$pgha/pg$n/data" -m fast -w stop >/dev/null 2>&1 || kill -9 "$pid" 2>/dev/null || true
        fi
    done
}

pg_ha_status() {
    [ -d "$pgha" ] || return 0
    local n pid role
    if [ -n "$(ha_pid etcd)" ]; then echo "etcd:       running (pid $(ha_pid etcd), 127.0.0.1:$etcd_port)"; fi
    for n in $(seq 1 $ha_members); do
        pid=$(ha_pid "patroni$n")
        [ -n "$pid" ] || { [ ! -d "$pgha/pg$n/data" ] || echo "pg-ha pg$n:  stopped"; continue; }
        if [ "$(ha_rest "$n" /primary)" = 200 ]; then role=leader
        elif [ "$(ha_rest "$n" /sync)" = 200 ]; then role="synchronous standby"
        elif [ "$(ha_rest "$n" /replica)" = 200 ]; then role=replica
        else role="not serving"; fi
        echo "pg-ha pg$n:  $role (Patroni pid $pid, PostgreSQL 127.0.0.1:$(ha_node_port "$n"), REST :$(ha_rest_port "$n"))"
    done
    if [ -n "$(ha_pid haproxy)" ]; then echo "haproxy:    running (pid $(ha_pid haproxy), leader 127.0.0.1:$ha_port, replicas :$ha_replica_port)"; fi
}

# The member's processes: Patroni, then its postmaster and every backend.
ha_member_pids() {
    local pm
    ha_pid "patroni$1"
    pm=$(ha_postmaster "$1")
    if [ -n "$pm" ]; then echo "$pm"; pgrep -P "$pm" || true; fi
}

# scripts/services pg-node N kill|pause|resume|start, pg-node leader, pg-node standby (the synchronous one)
pg_node_command() {
    local node=${1:-} action=${2:-} pid pids
    if [ "$node" = leader ]; then ha_leader; return 0; fi
    if [ "$node" = standby ]; then ha_sync_standby; return 0; fi
    [[ $node =~ ^[1-9]$ ]] && [ "$node" -le $ha_members ] || die "no PostgreSQL member '$node' (scripts/services up --pg-ha makes members 1-$ha_members)"
    case "$action" in
    kill)
        # kill -9 of the member's PostgreSQL (Patroni lives on and fails over at once).
        pid=$(ha_postmaster "$node")
        [ -n "$pid" ] || die "member $node's PostgreSQL is not running"
        kill -9 "$pid"
        while alive "$pid"; do sleep 0.05; done
        ;;
    pause)
        # The whole member stops (Patroni and every PostgreSQL process), like a machine that hangs.
        pids=$(ha_member_pids "$node")
        [ -n "$pids" ] || die "member $node is not running"
        # shellcheck disable=SC2086
        kill -STOP $pids
        ;;
    resume)
        pids=$(ha_member_pids "$node")
        # shellcheck disable=SC2086
        [ -z "$pids" ] || kill -CONT $pids
        ;;
    start)
        ha_ports_valid
        ha_member_start "$node"
        ha_member_await "$node" 180
        log "pg$node runs again ($( [ "$(ha_rest "$node" /primary)" = 200 ] && echo leader || echo replica))"
        ;;
    *) die "usage: scripts/services pg-node N kill|pause|resume|start, pg-node leader, or pg-node standby" ;;
    esac
}
