#!/usr/bin/env bash
# A one-machine Slurm cluster for trying launched jobs: installs Debian's
# slurm-wlm and munge when missing, writes a minimal slurm.conf (this host as
# the controller and the only node, with as many CPUs as tasks asked for),
# starts munged, slurmctld and slurmd, and runs a command under `srun -n N`.
#
#   sudo bash scripts/slurm_local.sh [-n TASKS] -- COMMAND...
#   sudo bash scripts/slurm_local.sh -n 4 -- npx -y deno@2.9.6 task train --steps 300
#   sudo bash scripts/slurm_local.sh --stop
#
# Needs root (it writes /etc/slurm and /etc/munge and starts daemons). Every
# task gets SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID and SLURM_JOB_NODELIST;
# qoda-ring's train() reads them (rank 0 hosts the supervisor).
set -euo pipefail
tasks=4
stop=0
while [ $# -gt 0 ]; do
  case "$1" in
    -n) tasks="$2"; shift 2 ;;
    --stop) stop=1; shift ;;
    --) shift; break ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "error: unknown argument '$1' (use -n TASKS -- COMMAND...)" >&2; exit 2 ;;
  esac
done
if [ "$stop" = 1 ]; then
  pkill -x slurmd || true; pkill -x slurmctld || true; pkill -x munged || true
  exit 0
fi
[ $# -gt 0 ] || { echo "error: no command to run (use -- COMMAND...)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "error: run as root (it configures and starts slurm)" >&2; exit 2; }

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge
fi

host=$(hostname -s)
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge /etc/munge
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=local
SlurmctldHost=${host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ReturnToService=2
MpiDefault=none
NodeName=${host} CPUs=${tasks} State=UNKNOWN
PartitionName=local Nodes=${host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE
CONF
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --keyfile /etc/munge/munge.key 2>/dev/null ||
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null
fi
chown -R munge:munge /etc/munge /run/munge 2>/dev/null || true
chmod 700 /etc/munge; chmod 400 /etc/munge/munge.key
pgrep -x munged >/dev/null || su -s /bin/sh munge -c "munged" || munged --force
# (Re)start the daemons so that they read this configuration.
pkill -x slurmd || true
pkill -x slurmctld || true
while pgrep -x slurmd >/dev/null || pgrep -x slurmctld >/dev/null; do sleep 0.1; done
slurmctld
slurmd
for _ in $(seq 1 50); do
  sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)' && break
  scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true
  sleep 0.2
done
sinfo
# --overcommit: more tasks than cores is fine for trying a launch on one machine.
exec srun -n "$tasks" --overcommit --export=ALL "$@"
