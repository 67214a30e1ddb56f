/**
 * Where a job's processes meet, read from the environment the launcher
 * gives them: torchrun-style `MASTER_ADDR`/`MASTER_PORT`/`RANK`/`WORLD_SIZE`,
 * Slurm's `SLURM_PROCID`/`SLURM_NTASKS`/`SLURM_JOB_NODELIST`, OpenMPI's
 * `OMPI_COMM_WORLD_*`, or a Kubernetes Indexed Job's `JOB_COMPLETION_INDEX`.
 * Rank 0 hosts the supervisor at the rendezvous address; every other rank
 * joins it. Pure: it reads the variables it is given.
 *
 * @module
 */
import { QodaError } from "../runtime/errors.ts";
import { isLoopback, parseAddress } from "../runtime/transport/tcp.ts";
import type { TrainingSupervisorOptions } from "./supervisor.ts";

/** Which launcher's conventions a {@linkcode Rendezvous} came from. */
export type LauncherName = "torchrun" | "slurm" | "openmpi" | "kubernetes";

/** One process's place in a launched job. */
export interface Rendezvous {
  /** The launcher whose variables were read. */
  launcher: LauncherName;
  /** This process's rank, 0 … worldSize − 1. */
  rank: number;
  /** The number of processes (the ring size). */
  worldSize: number;
  /** This process's rank on its own host. */
  localRank: number;
  /** The supervisor's control address, "host:port" (rank 0 listens there). */
  address: string;
}

/** Default port of the supervisor's control address when the launcher names none. */
export const DEFAULT_RENDEZVOUS_PORT = 29500;

/** A launcher's variables are missing or contradict each other. */
export class RendezvousError extends QodaError {
  /**
   * Creates the error.
   * @param message Which variable is wrong, and why.
   */
  constructor(message: string) {
    super(message);
    this.name = "RendezvousError";
  }
}

/** Environment variables, as `Deno.env.toObject()` gives them. */
export type LauncherEnv = Readonly<Record<string, string | undefined>>;

/**
 * The rendezvous the environment describes, or null when no launcher's
 * variables are set. Launchers are tried in order: torchrun, Slurm, OpenMPI,
 * Kubernetes. Ports: `MASTER_PORT` when set, else {@linkcode DEFAULT_RENDEZVOUS_PORT}.
 *
 * - torchrun: `MASTER_ADDR`, `MASTER_PORT`, `RANK`, `WORLD_SIZE`, `LOCAL_RANK`;
 * - Slurm: `SLURM_PROCID`, `SLURM_NTASKS`, `SLURM_LOCALID`, `SLURM_JOB_NODELIST`
 *   (its first host is the rendezvous unless `MASTER_ADDR` is set);
 * - OpenMPI: `OMPI_COMM_WORLD_RANK`, `OMPI_COMM_WORLD_SIZE`,
 *   `OMPI_COMM_WORLD_LOCAL_RANK`, with `MASTER_ADDR` (default 127.0.0.1: one host);
 * - Kubernetes Indexed Job: `JOB_COMPLETION_INDEX`, the world size in
 *   `QODA_RING_WORLD_SIZE`, and rank 0's host in `QODA_RING_SUPERVISOR`
 *   (`<job>-0.<headless service>`), or `MASTER_ADDR`.
 *
 * @throws {RendezvousError} A launcher's variable is missing, not a number,
 * out of range, or contradicts another.
 *
 * @example torchrun's variables
 * ```ts
 * import { rendezvousFromEnv } from "@qoda/ring/actors";
 * const r = rendezvousFromEnv({
 *   MASTER_ADDR: "10.0.0.5", MASTER_PORT: "29400", RANK: "3", WORLD_SIZE: "4", LOCAL_RANK: "1",
 * });
 * if (r?.rank !== 3 || r.worldSize !== 4 || r.address !== "10.0.0.5:29400") throw new Error();
 * ```
 *
 * @example Slurm's compressed node list: the first host is the rendezvous
 * ```ts
 * import { rendezvousFromEnv } from "@qoda/ring/actors";
 * const r = rendezvousFromEnv({
 *   SLURM_PROCID: "5", SLURM_NTASKS: "8", SLURM_LOCALID: "1", SLURM_JOB_NODELIST: "node[03-04,07]",
 * });
 * if (r?.address !== "node03:29500" || r.launcher !== "slurm") throw new Error();
 * ```
 */
export function rendezvousFromEnv(env: LauncherEnv): Rendezvous | null {
  const port = env.MASTER_PORT === undefined
    ? DEFAULT_RENDEZVOUS_PORT
    : int(env, "MASTER_PORT", 1, 65535);
  if (env.RANK !== undefined || env.WORLD_SIZE !== undefined) {
    const worldSize = int(env, "WORLD_SIZE", 1);
    const rank = int(env, "RANK", 0, worldSize - 1, "WORLD_SIZE");
    const host = required(env, "MASTER_ADDR", "torchrun-style RANK and WORLD_SIZE");
    const localRank = env.LOCAL_RANK === undefined ? 0 : int(env, "LOCAL_RANK", 0);
    return { launcher: "torchrun", rank, worldSize, localRank, address: join(host, port) };
  }
  if (env.SLURM_PROCID !== undefined) {
    const worldSize = int(env, "SLURM_NTASKS", 1);
    const rank = int(env, "SLURM_PROCID", 0, worldSize - 1, "SLURM_NTASKS");
    const localRank = env.SLURM_LOCALID === undefined ? 0 : int(env, "SLURM_LOCALID", 0);
    let host = env.MASTER_ADDR;
    if (host === undefined) {
      const list = required(env, "SLURM_JOB_NODELIST", "SLURM_PROCID (or set MASTER_ADDR)");
      host = expandHostList(list)[0];
    }
    return { launcher: "slurm", rank, worldSize, localRank, address: join(host, port) };
  }
  if (env.OMPI_COMM_WORLD_RANK !== undefined) {
    const worldSize = int(env, "OMPI_COMM_WORLD_SIZE", 1);
    const rank = int(env, "OMPI_COMM_WORLD_RANK", 0, worldSize - 1, "OMPI_COMM_WORLD_SIZE");
    const localRank = env.OMPI_COMM_WORLD_LOCAL_RANK === undefined
      ? 0
      : int(env, "OMPI_COMM_WORLD_LOCAL_RANK", 0);
    const host = env.MASTER_ADDR ?? "127.0.0.1";
    return { launcher: "openmpi", rank, worldSize, localRank, address: join(host, port) };
  }
  if (env.JOB_COMPLETION_INDEX !== undefined) {
    const worldSize = int(env, "QODA_RING_WORLD_SIZE", 1);
    const rank = int(env, "JOB_COMPLETION_INDEX", 0, worldSize - 1, "QODA_RING_WORLD_SIZE");
    const host = env.QODA_RING_SUPERVISOR ?? env.MASTER_ADDR;
    if (host === undefined || host === "") {
      throw new RendezvousError(
        "JOB_COMPLETION_INDEX is set but QODA_RING_SUPERVISOR (rank 0's host, e.g. <job>-0.<service>) is not",
      );
    }
    return { launcher: "kubernetes", rank, worldSize, localRank: 0, address: join(host, port) };
  }
  return null;
}

/**
 * Expands a Slurm host list: `node[01-04,07],gpu3` → `node01 … node04, node07, gpu3`.
 * Zero padding of ranges is kept.
 *
 * @throws {RendezvousError} A malformed list or range.
 *
 * @example
 * ```ts
 * import { expandHostList } from "@qoda/ring/actors";
 * const hosts = expandHostList("node[01-03,07],login");
 * if (hosts.join(" ") !== "node01 node02 node03 node07 login") throw new Error(hosts.join(" "));
 * ```
 */
export function expandHostList(list: string): string[] {
  const out: string[] = [];
  // Split at top-level commas (not inside brackets).
  let depth = 0, start = 0;
  const parts: string[] = [];
  for (let i = 0; i <= list.length; i++) {
    const c = list[i];
    if (c === "[") depth++;
    else if (c === "]") depth--;
    if (depth < 0) throw new RendezvousError(`SLURM_JOB_NODELIST "${list}": unbalanced ']'`);
    if ((c === "," && depth === 0) || i === list.length) {
      parts.push(list.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) throw new RendezvousError(`SLURM_JOB_NODELIST "${list}": unbalanced '['`);
  for (const part of parts) {
    if (part.trim() === "") continue;
    let names = [""];
    for (const m of part.matchAll(/([^[\]]+)|\[([^\]]*)\]/g)) {
      if (m[1] !== undefined) names = names.map((n) => n + m[1]);
      else {
        const alts: string[] = [];
        for (const r of m[2].split(",")) {
          const range = /^(\d+)(?:-(\d+))?$/.exec(r.trim());
          if (!range) {
            throw new RendezvousError(`SLURM_JOB_NODELIST "${list}": bad range "${r}"`);
          }
          const [lo, hi = lo] = [range[1], range[2]];
          if (Number(hi) < Number(lo) || Number(hi) - Number(lo) > 100_000) {
            throw new RendezvousError(`SLURM_JOB_NODELIST "${list}": bad range "${r}"`);
          }
          for (let k = Number(lo); k <= Number(hi); k++) {
            alts.push(String(k).padStart(lo.length, "0"));
          }
        }
        names = names.flatMap((n) => alts.map((a) => n + a));
      }
    }
    out.push(...names);
  }
  if (out.length === 0) throw new RendezvousError(`SLURM_JOB_NODELIST "${list}" names no host`);
  return out;
}

/**
 * The address this process's ring listener announces in a launched job:
 * `host` when given, else `QODA_RING_HOST`, else 127.0.0.1 when the
 * rendezvous is on loopback (one host), else this host's name.
 */
export function launchHost(rv: Rendezvous, host?: string): string {
  if (host) return host;
  const env = Deno.env.get("QODA_RING_HOST");
  if (env) return env;
  return isLoopback(parseAddress(rv.address).hostname) ? "127.0.0.1" : Deno.hostname();
}

/**
 * The supervisor options of rank 0 in a launched job: it listens at the
 * rendezvous (every interface unless that is a loopback address), runs
 * worker 0 in this process on the TCP ring, and waits for the other
 * `worldSize − 1` ranks to join.
 *
 * @example
 * ```ts
 * import { launchedSupervisorOptions } from "@qoda/ring/actors";
 * const rv = { launcher: "torchrun" as const, rank: 0, worldSize: 4, localRank: 0, address: "10.1.2.3:29500" };
 * const o = launchedSupervisorOptions(rv, "10.1.2.3");
 * if (o.workers !== 4 || o.localWorkers !== 1 || o.listen !== "0.0.0.0:29500") throw new Error();
 * ```
 */
export function launchedSupervisorOptions(
  rv: Rendezvous,
  host: string,
): Pick<TrainingSupervisorOptions, "workers" | "spawn" | "localWorkers" | "ringHost" | "listen"> {
  const { hostname, port } = parseAddress(rv.address);
  return {
    workers: rv.worldSize,
    spawn: "inprocess",
    localWorkers: 1,
    ringHost: host,
    listen: isLoopback(hostname) ? rv.address : `0.0.0.0:${port}`,
  };
}

function join(host: string, port: number): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
}

function required(env: LauncherEnv, name: string, why: string): string {
  const v = env[name];
  if (v === undefined || v.trim() === "") {
    throw new RendezvousError(`${why} set, but ${name} is not`);
  }
  return v.trim();
}

function int(
  env: LauncherEnv,
  name: string,
  min: number,
  max = Infinity,
  maxFrom?: string,
): number {
  const v = env[name];
  if (v === undefined || v.trim() === "") throw new RendezvousError(`${name} is not set`);
  const n = Number(v);
  if (!Number.isInteger(n)) throw new RendezvousError(`${name}="${v}" is not an integer`);
  if (n < min || n > max) {
    const range = max === Infinity ? `≥ ${min}` : `in ${min}..${max}`;
    throw new RendezvousError(
      `${name}=${n} must be ${range}${maxFrom ? ` (${maxFrom}=${max + 1})` : ""}`,
    );
  }
  return n;
}
