#!/usr/bin/env python3
"""Reference fp32 all-reduce (SUM) with torch.distributed + Gloo over TCP.

One rank:   python3 scripts/gloo_allreduce.py --rank R --world N \
                --master 127.0.0.1:29500 --mib 1,16,64 --iters 5 --warmup 2 --json
Launcher:   python3 scripts/gloo_allreduce.py --launch 4 --mib 1,16,64 --json
            (spawns ranks 0..N-1 on 127.0.0.1, relays rank 0's output)
Under netlab:
  scripts/netlab --hosts 4 --rate 1gbit -- sh -c 'python3 scripts/gloo_allreduce.py \
      --rank $NETLAB_RANK --world $NETLAB_HOSTS \
      --master ${NETLAB_PEERS%%,*}:29500 --mib 1,16 --json'

Rank 0 prints one JSON object per size:
  {"impl":"gloo","ranks":N,"mib":M,"mode":"fp32","bits":32,"time_ms":...,
   "algbw_gbps":...,"busbw_gbps":...}
time_ms is the median over --iters timed all-reduces (barrier before each;
the slowest rank's time is used), algbw = bytes/time in GB/s (1e9 B/s),
busbw = algbw * 2(N-1)/N (nccl-tests definitions).
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time

# Debian's python3-torch lives in /usr/lib/python3/dist-packages; a pyenv or
# venv python3 earlier on PATH does not see it. Re-exec with the system one.
try:
    import torch  # noqa: F401
except ImportError:
    if os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") and \
            os.path.exists("/usr/bin/python3") and not os.environ.get("GLOO_AR_REEXEC"):
        os.environ["GLOO_AR_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    sys.exit("gloo_allreduce: cannot import torch (apt-get install -y python3-torch)")

import torch
import torch.distributed as dist


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rank", type=int)
    p.add_argument("--world", type=int)
    p.add_argument("--master", default="127.0.0.1:29500", help="HOST:PORT of rank 0's store")
    p.add_argument("--mib", default="1,16,64", help="comma-separated tensor sizes in MiB")
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--json", action="store_true", help="print only JSON lines")
    p.add_argument("--launch", type=int, metavar="N", help="spawn N local ranks on loopback")
    p.add_argument("--timeout", type=float, default=120.0, help="init/op timeout in seconds")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    a = p.parse_args()
    try:
        a.sizes = [float(s) for s in a.mib.split(",") if s.strip()]
    except ValueError:
        p.error("--mib wants numbers, e.g. 1,16,64")
    if not a.sizes or any(s <= 0 for s in a.sizes):
        p.error("--mib sizes must be > 0")
    if a.iters < 1 or a.warmup < 0:
        p.error("--iters >= 1, --warmup >= 0")
    if a.launch is None:
        if a.rank is None or a.world is None:
            p.error("give --rank and --world (or --launch N)")
        if a.world < 1 or not 0 <= a.rank < a.world:
            p.error("need 0 <= rank < world")
    elif a.launch < 1:
        p.error("--launch N needs N >= 1")
    return a


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(a):
    n = a.launch
    port = free_port()
    base = [sys.executable, os.path.abspath(__file__), "--world", str(n),
            "--master", f"127.0.0.1:{port}", "--mib", a.mib, "--iters", str(a.iters),
            "--warmup", str(a.warmup), "--timeout", str(a.timeout), "--threads", str(a.threads)]
    if a.json:
        base.append("--json")
    procs = []
    for r in range(n):
        out = None if r == 0 else subprocess.DEVNULL  # relay rank 0 only
        procs.append(subprocess.Popen(base + ["--rank", str(r)], stdout=out))
    rc = 0
    try:
        for r, pr in enumerate(procs):
            code = pr.wait()
            if code != 0:
                print(f"gloo_allreduce: rank {r} exited with {code}", file=sys.stderr)
                if rc == 0:
                    rc = code
                for q in procs:  # one failed: the others would hang until timeout
                    if q.poll() is None:
                        q.terminate()
    except KeyboardInterrupt:
        rc = 130
    finally:
        for q in procs:
            if q.poll() is None:
                q.kill()
                q.wait()
    return 1 if rc < 0 else rc


def route_ifname(host):
    """Name of the local interface whose IPv4 address routes to host."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((host, 9))  # UDP connect: no packet is sent
            local = s.getsockname()[0]
        out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 4 and f[3].split("/")[0] == local:
            return f[1].split("@")[0]
    return None


def base_pattern(n):
    # deterministic small integers: exact in fp32, so the SUM is exact too
    return (torch.arange(n, dtype=torch.int64) % 251 + 1).to(torch.float32)


def main():
    a = parse_args()
    if a.launch is not None:
        return launch(a)
    torch.set_num_threads(a.threads)
    host, _, port = a.master.rpartition(":")
    if not host or not port.isdigit():
        sys.exit(f"gloo_allreduce: bad --master {a.master!r} (want HOST:PORT)")
    if not os.environ.get("GLOO_SOCKET_IFNAME") and not host.startswith("127.") \
            and host != "localhost":
        # Gloo binds to the address the hostname resolves to (often 127.0.x.1);
        # pick the interface that routes to the master instead (e.g. netlab).
        ifname = route_ifname(host)
        if ifname:
            os.environ["GLOO_SOCKET_IFNAME"] = ifname
    from datetime import timedelta
    dist.init_process_group("gloo", init_method=f"tcp://{host}:{port}", rank=a.rank,
                            world_size=a.world, timeout=timedelta(seconds=a.timeout))
    n_ranks = a.world
    log = (lambda *x: None) if a.json else (lambda *x: print(*x, file=sys.stderr, flush=True))
    if a.rank == 0:
        log(f"torch {torch.__version__}, gloo, world {n_ranks}, master {a.master}")
    for mib in a.sizes:
        n = int(mib * (1 << 20)) // 4
        nbytes = n * 4
        init = base_pattern(n)
        mine = init + 7 * a.rank  # rank-dependent data
        # expected SUM over ranks r of (base + 7r) = N*base + 7*N(N-1)/2
        expected = init * n_ranks + 7 * n_ranks * (n_ranks - 1) / 2
        t = torch.empty(n, dtype=torch.float32)
        times = []
        for it in range(a.warmup + a.iters):
            t.copy_(mine)
            dist.barrier()
            t0 = time.perf_counter()
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
            dt = time.perf_counter() - t0
            if not torch.equal(t, expected):
                bad = (t != expected).nonzero()
                i = int(bad[0]) if len(bad) else -1
                sys.exit(f"gloo_allreduce: rank {a.rank}: WRONG RESULT at {mib} MiB, "
                         f"{len(bad)} bad elements, first [{i}] = {float(t[i])} "
                         f"!= {float(expected[i])}")
            if it >= a.warmup:
                times.append(dt)
        # the op's time is the slowest rank's
        tt = torch.tensor(times, dtype=torch.float64)
        dist.all_reduce(tt, op=dist.ReduceOp.MAX)
        med = statistics.median(tt.tolist())
        algbw = nbytes / med / 1e9
        busbw = algbw * 2 * (n_ranks - 1) / n_ranks
        if a.rank == 0:
            rec = {"impl": "gloo", "ranks": n_ranks, "mib": mib if mib != int(mib) else int(mib),
                   "mode": "fp32", "bits": 32, "time_ms": round(med * 1e3, 4),
                   "algbw_gbps": round(algbw, 4), "busbw_gbps": round(busbw, 4)}
            print(json.dumps(rec, separators=(",", ":")), flush=True)
            log(f"  {mib:g} MiB: {med * 1e3:.2f} ms, algbw {algbw:.3f} GB/s, "
                f"busbw {busbw:.3f} GB/s ({busbw * 8:.2f} Gbit/s), result verified")
    dist.barrier()
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
