#!/usr/bin/env bash
# A real single-node SLURM cluster on 127.0.0.1, for the tests of the SLURM profile.
#
#   tests/cluster/local-slurm.sh start    install (Debian: slurm-wlm, munge, slurmdbd,
#                                         mariadb-server) and start
#   tests/cluster/local-slurm.sh status   what runs, as sinfo sees it
#   tests/cluster/local-slurm.sh stop     cancel its jobs, stop its daemons, remove its files
#
# Needs root (the daemons run as root, jobs run as the submitting user). Everything lives
# in one folder, $LOCAL_SLURM_DIR (default /tmp/vabal-local-slurm): the configuration, a
# munge key and socket, state, spool, logs and pid files. The only file written outside it
# is the link /etc/slurm/slurm.conf -> $LOCAL_SLURM_DIR/slurm.conf (where every SLURM
# command, including the srun that runs inside a job, looks for its configuration); start
# refuses to run when that path already holds something else, and stop removes the link.
# The daemons are munged, mariadbd, slurmdbd, slurmctld and slurmd, started by this script and
# stopped by pid (each pid is checked to be the daemon of this folder first); no other
# process is touched. The Debian packages stay installed after stop.
#
# The cluster: one node with the machine's cores and memory (less 1 GiB) and one partition
# `local`, with job accounting as on a production cluster: slurmdbd on a MariaDB database of
# its own in the folder, so `sacct` reports every job (a cancelled one as "CANCELLED by
# <uid>"). LOCAL_SLURM_ACCOUNTING=0 leaves accounting out (then follow jobs with `squeue`,
# which keeps ended jobs for MinJobAge = 600 s). The node has no GPU (LOCAL_SLURM_GPUS=0,
# the default). LOCAL_SLURM_GPUS=n declares n GPUs that SLURM schedules and hands out
# (`--gpus=1`) but that are not there: their device files are copies of /dev/null in the
# folder, so jobs are placed as on a GPU cluster and their programs find no GPU and use
# the CPU. Ports: LOCAL_SLURM_PORT and the next three (slurmctld, slurmd, slurmdbd,
# MariaDB; default: the first free four from 16817).
#
# Exit status: 0 ok, 2 not root, 3 the packages cannot be installed, 4 another SLURM is
# configured here (/etc/slurm/slurm.conf), 1 anything else.

set -euo pipefail

DIR=${LOCAL_SLURM_DIR:-/tmp/vabal-local-slurm}
CONF_LINK=/etc/slurm/slurm.conf
MARKER=.local-slurm # marks a folder made by this script (stop removes only such a folder)
NODE=localnode
CLUSTER=vabal-local
PARTITION=local
GPUS=${LOCAL_SLURM_GPUS:-0}
ACCOUNTING=${LOCAL_SLURM_ACCOUNTING:-1}
PACKAGES=(slurm-wlm munge)
COMMANDS=(slurmctld slurmd sbatch squeue scontrol sinfo scancel munged)
if ((ACCOUNTING)); then
    PACKAGES+=(slurmdbd mariadb-server)
    COMMANDS+=(slurmdbd sacct sacctmgr mariadbd mariadb-install-db mariadb)
fi

say() { printf 'local-slurm: %s\n' "$*" >&2; }
die() {
    say "error: $2"
    exit "$1"
}

pid_of() { # pid_of NAME: the pid in NAME's pid file if that process is ours and alive
    local file="$DIR/run/$1.pid" pid
    [[ -s $file ]] || return 1
    pid=$(<"$file")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/cmdline ]] || return 1
    # ours: the daemon's command line (or, for slurmdbd, its SLURM_CONF) names this folder
    { tr '\0' ' ' <"/proc/$pid/cmdline"; tr '\0' ' ' <"/proc/$pid/environ"; } 2>/dev/null |
        grep -qF -- "$DIR/" || return 1
    echo "$pid"
}

stop_pid() { # stop_pid NAME: TERM, wait up to 10 s, then KILL
    local pid i
    pid=$(pid_of "$1") || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    say "$1 ($pid) did not stop on TERM; killing it"
    kill -KILL "$pid" 2>/dev/null || true
}

install_packages() {
    local missing=() c
    for c in "${COMMANDS[@]}"; do
        command -v "$c" >/dev/null 2>&1 || missing+=("$c")
    done
    ((${#missing[@]} == 0)) && return 0
    command -v apt-get >/dev/null 2>&1 || die 3 "missing ${missing[*]} and no apt-get to install them"
    say "installing ${PACKAGES[*]} (missing: ${missing[*]})"
    # No service may start from the packages' install scripts: a policy-rc.d that denies
    # every start, only for the time of the install and only when none exists.
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
    fi
    local ok=0
    for attempt in 1 2; do
        if DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            "${PACKAGES[@]}" >"$DIR/apt.log" 2>&1; then
            ok=1
            break
        fi
        ((attempt == 1)) && { apt-get update -q >>"$DIR/apt.log" 2>&1 || true; }
    done
    ((made_policy)) && rm -f "$policy"
    ((ok)) || die 3 "apt-get install ${PACKAGES[*]} failed (see $DIR/apt.log): $(tail -n 3 "$DIR/apt.log" | tr '\n' ' ')"
    for c in "${COMMANDS[@]}"; do
        command -v "$c" >/dev/null 2>&1 || die 3 "$c still missing after installing ${PACKAGES[*]}"
    done
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

choose_ports() {
    if [[ -n ${LOCAL_SLURM_PORT:-} ]]; then
        CTLD_PORT=$LOCAL_SLURM_PORT
    else
        CTLD_PORT=16817
        while ! { port_free "$CTLD_PORT" && port_free $((CTLD_PORT + 1)) &&
            port_free $((CTLD_PORT + 2)) && port_free $((CTLD_PORT + 3)); }; do
            CTLD_PORT=$((CTLD_PORT + 4))
            ((CTLD_PORT < 16917)) || die 1 "no four free ports in 16817..16917"
        done
    fi
    SLURMD_PORT=$((CTLD_PORT + 1))
    DBD_PORT=$((CTLD_PORT + 2))
    DB_PORT=$((CTLD_PORT + 3))
}

start_accounting() { # MariaDB and slurmdbd in $DIR, the cluster registered
    local pass db="$DIR/mysql"
    mkdir -p "$db"
    pass=$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
    if [[ ! -d $db/data/mysql ]]; then
        mariadb-install-db --no-defaults --datadir="$db/data" --user=root \
            --auth-root-authentication-method=socket --skip-test-db >"$DIR/log/mariadb-install.log" 2>&1 ||
            die 1 "mariadb-install-db failed: $(tail -n 3 "$DIR/log/mariadb-install.log" | tr '\n' ' ')"
    fi
    if ! pid_of mariadbd >/dev/null; then
        mariadbd --no-defaults --datadir="$db/data" --socket="$db/mysql.sock" --port="$DB_PORT" \
            --bind-address=127.0.0.1 --pid-file="$DIR/run/mariadbd.pid" --user=root \
            --log-error="$DIR/log/mariadb.log" --innodb-buffer-pool-size=64M >/dev/null 2>&1 &
        for _ in $(seq 300); do
            [[ -S $db/mysql.sock ]] && mariadb --no-defaults --socket="$db/mysql.sock" -e 'select 1' >/dev/null 2>&1 && break
            sleep 0.1
        done
        [[ -S $db/mysql.sock ]] || die 1 "mariadbd did not start: $(tail -n 3 "$DIR/log/mariadb.log" 2>/dev/null | tr '\n' ' ')"
    fi
    mariadb --no-defaults --socket="$db/mysql.sock" <<SQL || die 1 "could not set up the accounting database"
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL
    cat >"$DIR/slurmdbd.conf" <<EOF
# Written by tests/cluster/local-slurm.sh: the accounting daemon of the local cluster.
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket
DbdAddr=127.0.0.1
DbdHost=localhost
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$DIR/run/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$pass
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$DIR/slurmdbd.conf"
    # slurmdbd reads the slurmdbd.conf beside the slurm.conf that SLURM_CONF names
    pid_of slurmdbd >/dev/null || SLURM_CONF="$DIR/slurm.conf" slurmdbd ||
        die 1 "slurmdbd did not start: $(tail -n 5 "$DIR/log/slurmdbd.log" 2>/dev/null | tr '\n' ' ')"
    local until=$((SECONDS + 30))
    while ((SECONDS < until)); do
        timeout 5 sacctmgr -n -P list cluster >/dev/null 2>&1 && break
        sleep 0.2
    done
    sacctmgr -i -n -P list cluster format=cluster 2>/dev/null | grep -qx "$CLUSTER" ||
        timeout 20 sacctmgr -i add cluster "$CLUSTER" >/dev/null 2>&1 ||
        die 1 "could not register cluster $CLUSTER with slurmdbd: $(tail -n 3 "$DIR/log/slurmdbd.log" | tr '\n' ' ')"
}

write_config() {
    local cpus mem gres="" accounting="AccountingStorageType=accounting_storage/none"
    ((GPUS > 0)) && gres="Gres=gpu:$GPUS"
    if ((ACCOUNTING)); then
        accounting="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
AccountingStoragePass=$DIR/munge/munge.socket"
    fi
    cpus=$(nproc)
    # what slurmd sees, less 1 GiB for the daemons and the submitting snakemake
    mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
    mem=$((mem > 2048 ? mem - 1024 : mem))
    cat >"$DIR/slurm.conf" <<EOF
# Written by tests/cluster/local-slurm.sh: a single-node cluster on 127.0.0.1.
ClusterName=$CLUSTER
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups: processes are tracked through /proc, tasks are not bound
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
$accounting
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
# squeue is how jobs are followed without an accounting database: keep finished jobs
# visible long enough for any poller
MinJobAge=600
ReturnToService=2
SlurmdTimeout=300
InactiveLimit=0
KillWait=10
GresTypes=gpu
NodeName=$NODE NodeHostname=$(hostname -s) NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem $gres State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    # GPUs that SLURM counts and hands out (--gpus) but that are not there: their "device
    # files" are copies of /dev/null in this folder, so a program in a job sees no GPU.
    local files=() i
    mkdir -p "$DIR/gpu"
    for ((i = 0; i < GPUS; i++)); do
        [[ -e $DIR/gpu/nvidia$i ]] || mknod "$DIR/gpu/nvidia$i" c 1 3 2>/dev/null || touch "$DIR/gpu/nvidia$i"
        files+=("$DIR/gpu/nvidia$i")
    done
    {
        echo "AutoDetect=off"
        if ((GPUS > 0)); then echo "NodeName=$NODE Name=gpu File=$(IFS=,; echo "${files[*]}")"; fi
    } >"$DIR/gres.conf"
}

start() {
    [[ $(id -u) == 0 ]] || die 2 "must run as root (the SLURM daemons run as root)"
    [[ $DIR == /?* ]] || die 1 "LOCAL_SLURM_DIR must be an absolute path: $DIR"
    if [[ -d $DIR && ! -e $DIR/$MARKER && -n $(ls -A "$DIR") ]]; then
        die 1 "$DIR exists and is not a folder of this script; choose another LOCAL_SLURM_DIR"
    fi
    mkdir -p "$DIR"
    chmod 700 "$DIR"
    touch "$DIR/$MARKER"
    if pid_of slurmctld >/dev/null && pid_of slurmd >/dev/null; then
        say "already running in $DIR"
        return 0
    fi
    install_packages
    if [[ -e $CONF_LINK || -L $CONF_LINK ]] && [[ $(readlink "$CONF_LINK" || true) != "$DIR/slurm.conf" ]]; then
        die 4 "$CONF_LINK exists and is not this cluster's; not touching a SLURM set up by someone else"
    fi
    local t0=$SECONDS
    mkdir -p "$DIR"/{run,log,state,spool,munge}
    chmod 700 "$DIR/munge"
    choose_ports
    write_config
    mkdir -p "$(dirname "$CONF_LINK")"
    ln -sfn "$DIR/slurm.conf" "$CONF_LINK"

    # munge: our own key, socket, pid and log (munged refuses keys that others can read)
    if ! pid_of munged >/dev/null; then
        [[ -s $DIR/munge/munge.key ]] || { dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none; }
        chmod 400 "$DIR/munge/munge.key"
        munged --force --key-file="$DIR/munge/munge.key" --socket="$DIR/munge/munge.socket" \
            --pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" \
            --seed-file="$DIR/munge/munged.seed" ||
            die 1 "munged did not start: $(tail -n 3 "$DIR/log/munged.log" 2>/dev/null | tr '\n' ' ')"
    fi
    ((ACCOUNTING)) && start_accounting
    # the daemons fork and write their pid files; -f names this folder on their command line
    pid_of slurmctld >/dev/null || SLURM_CONF="$DIR/slurm.conf" slurmctld -f "$DIR/slurm.conf" ||
        die 1 "slurmctld did not start: $(tail -n 5 "$DIR/log/slurmctld.log" 2>/dev/null | tr '\n' ' ')"
    pid_of slurmd >/dev/null || SLURM_CONF="$DIR/slurm.conf" slurmd -f "$DIR/slurm.conf" -N "$NODE" ||
        die 1 "slurmd did not start: $(tail -n 5 "$DIR/log/slurmd.log" 2>/dev/null | tr '\n' ' ')"

    local state=""
    for _ in $(seq 600); do
        state=$(sinfo -h -n "$NODE" -o %T 2>/dev/null || true)
        case $state in
        idle* | mixed* | allocated*) break ;;
        down* | drain*) scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true ;;
        inval*) die 1 "node $NODE is invalid: $(scontrol show node "$NODE" | grep -o 'Reason=.*')" ;;
        esac
        sleep 0.1
    done
    case $state in
    idle* | mixed* | allocated*) ;;
    *) die 1 "node $NODE is '${state:-not known}' after 60 s; logs in $DIR/log" ;;
    esac
    say "up in $((SECONDS - t0)) s: cluster $CLUSTER, partition $PARTITION, node $NODE ($(nproc) CPUs, $GPUS GPUs), accounting $( ((ACCOUNTING)) && echo "slurmdbd on $DBD_PORT" || echo off), ports $CTLD_PORT/$SLURMD_PORT, files in $DIR"
}

stop() {
    [[ $(id -u) == 0 ]] || die 2 "must run as root"
    [[ -e $DIR/$MARKER ]] || {
        say "nothing to stop in $DIR"
        return 0
    }
    if pid_of slurmctld >/dev/null; then
        # cancel every job of this cluster (all were submitted to it) and wait for them
        local ids
        ids=$(squeue -h -o %i -t PENDING,RUNNING,SUSPENDED,COMPLETING,CONFIGURING 2>/dev/null || true)
        if [[ -n $ids ]]; then
            # shellcheck disable=SC2086
            scancel $ids 2>/dev/null || true
            for _ in $(seq 300); do
                [[ -z $(squeue -h -o %i -t PENDING,RUNNING,SUSPENDED,COMPLETING,CONFIGURING 2>/dev/null) ]] && break
                sleep 0.1
            done
        fi
    fi
    stop_pid slurmd
    stop_pid slurmctld
    stop_pid slurmdbd
    stop_pid mariadbd
    stop_pid munged
    if [[ -L $CONF_LINK && $(readlink "$CONF_LINK") == "$DIR/slurm.conf" ]]; then
        rm -f "$CONF_LINK"
    fi
    if [[ -e $DIR/$MARKER ]]; then
        rm -rf "$DIR"
    else
        say "$DIR has no $MARKER: left in place"
    fi
    say "stopped; removed $DIR"
}

status() {
    if pid_of slurmctld >/dev/null && pid_of slurmd >/dev/null; then
        sinfo
        squeue
    else
        say "not running (no daemons of $DIR)"
        return 1
    fi
}

case ${1:-} in
start) start ;;
stop) stop ;;
status) status ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 1
    ;;
esac
