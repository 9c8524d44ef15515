# Ports: checks the CONCERT_*_PORT values, finds who listens on a port (in /proc, where `ss -ltnp`
# finds them too: nothing to install), names that program and proposes a free port.
# shellcheck shell=bash disable=SC2154 # its variables are set in common.sh and by the entry point

# The ports end up in printf %X, config files and messages, and each service needs its own.
ports_valid() {
    local pair seen=" "
    for pair in "CONCERT_AMQP_PORT=$amqp_port" "CONCERT_AMQP_MANAGEMENT_PORT=$mgmt_port" \
        "CONCERT_RABBITMQ_PROMETHEUS_PORT=$prom_port" "CONCERT_RABBITMQ_DIST_PORT=$dist_port" "CONCERT_EPMD_PORT=$epmd_port" "CONCERT_PG_PORT=$pg_port"; do
        if ! [[ ${pair#*=} =~ ^[1-9][0-9]{0,4}$ ]] || [ "${pair#*=}" -gt 65535 ]; then
            die "${pair%%=*} must be a port number (1-65535), not '${pair#*=}'"
        fi
        [[ $seen != *" ${pair#*=} "* ]] || die "${pair%%=*}=${pair#*=}: that port is already given to another CONCERT_*_PORT"
        seen+="${pair#*=} "
    done
}

tcp_tables=(/proc/net/tcp)
if [ -r /proc/net/tcp6 ]; then tcp_tables+=(/proc/net/tcp6); fi

# Pids listening on TCP port $1 (IPv4 or IPv6, any address), one a line; "?" for a listener whose
# process this user cannot see (another user's, when not root).
port_pids() {
    local hex inode pids
    hex=$(printf '%04X' "$1")
    awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { print $10 }' "${tcp_tables[@]}" \
        | while read -r inode; do
            pids=$(find /proc/[0-9]*/fd -lname "socket:\[$inode\]" 2>/dev/null | cut -d/ -f3 || true)
            printf '%s\n' "${pids:-?}"
        done | sort -u
}

# Ports something listens on (decimal), to propose a free one.
listening_ports() {
    local hex
    awk '$4 == "0A" { sub(/.*:/, "", $2); print $2 }' "${tcp_tables[@]}" | sort -u \
        | while read -r hex; do echo $((16#$hex)); done
}

# Names process $1 in a message. RabbitMQ processes are named by node and data folder, which say
# whose they are (their command lines do not); others by their command line.
describe_pid() {
    local pid=$1 name data cmd
    if [ "$pid" = "?" ]; then echo "a process this user cannot see (as root: ss -ltnp)"; return 0; fi
    name=$(cat "/proc/$pid/comm" 2>/dev/null || echo '?')
    data=$(env_of "$pid" RABBITMQ_MNESIA_BASE)
    if [ -n "$data" ] && [ "$name" = epmd ]; then
        echo "epmd (pid $pid, started by RabbitMQ node $(env_of "$pid" RABBITMQ_NODENAME) with data in $data)"
    elif [ -n "$data" ]; then
        echo "$name (pid $pid, RabbitMQ node $(env_of "$pid" RABBITMQ_NODENAME) with data in $data)"
    else
        cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" || true)
        cmd=${cmd% }
        if [ ${#cmd} -gt 120 ]; then cmd="${cmd:0:117}..."; fi
        echo "$name (pid $pid: $cmd)"
    fi
}

suggested=() # VAR=PORT proposals made by port_free, shown by die_ports

# A port above $1 to propose: nothing listens on it, and no CONCERT_*_PORT has or gets it.
free_port() {
    local port=$(($1 + 1)) taken
    taken=" $(listening_ports | tr '\n' ' ') $amqp_port $mgmt_port $prom_port $dist_port $epmd_port $pg_port ${suggested[*]#*=} "
    while [[ $taken == *" $port "* ]]; do port=$((port + 1)); done
    echo "$port"
}

# Checks that TCP port $1, used for $2 and set by variable $3, is free or held only by pid $4 (our
# own server). If not, names who holds it, proposes another port and fails.
port_free() {
    local port=$1 what=$2 var=$3 own=${4:-} pid holders=""
    while read -r pid; do
        if [ -n "$pid" ] && [ "$pid" != "$own" ]; then holders+="${holders:+, }$(describe_pid "$pid")"; fi
    done < <(port_pids "$port")
    [ -n "$holders" ] || return 0
    log "port $port for $what ($var) is in use by $holders"
    suggested+=("$var=$(free_port "$port")")
    return 1
}

# Ends a start after failed checks (logged above), saying how to go on.
die_ports() {
    [ ${#suggested[@]} -gt 0 ] || die "$1 (see above)"
    die "$1. Stop what is named above, or choose free ports (and keep them set for the other scripts/services commands), e.g.: ${suggested[*]} scripts/services $command"
}
