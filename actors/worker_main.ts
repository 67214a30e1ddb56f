/**
 * `deno task worker --join HOST:PORT [--secret S]`: one worker process (one
 * device). It joins a supervisor started with `deno task train … --workers N
 * --remote-workers` (or spawned by `deno task train --workers N` itself),
 * takes its rank and ring address from it, and trains until it is told to
 * stop. Started by a launcher (torchrun, srun, mpirun, a Kubernetes Indexed
 * Job), it needs no `--join`: it joins the rendezvous address the launcher's
 * variables give. Exit codes: 0 stopped by the supervisor, 1 the supervisor
 * went away or joining failed, 2 bad command line or launcher variables.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { runWorker } from "./worker.ts";
import { launchHost, type Rendezvous, rendezvousFromEnv } from "./rendezvous.ts";

const HELP = `usage: deno task worker --join HOST:PORT [flags]

Joins the supervisor at HOST:PORT as one worker of the ring.

flags:
  --join HOST:PORT     the supervisor's control address (default: the rendezvous of a
                       launcher's variables: MASTER_ADDR/MASTER_PORT, SLURM_*, OMPI_*, ...)
  --secret S           shared secret; required when either side is not on loopback. It shows
                       in the process list: prefer QODA_RING_SECRET or QODA_RING_SECRET_FILE
  --listen-host H      address this worker's ring listener binds and announces
                       (default 127.0.0.1; use the host's address on a real network)
  --name NAME          name in logs (default worker-PID)
  --quiet              no log lines
  --help               this text`;

/** Entry point; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        join: { type: "string" },
        secret: { type: "string" },
        "listen-host": { type: "string" },
        name: { type: "string" },
        quiet: { type: "boolean" },
        help: { type: "boolean" },
      },
    }));
  } catch (e) {
    console.error(`error: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  let rv: Rendezvous | null;
  try {
    rv = rendezvousFromEnv(Deno.env.toObject());
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    return 2;
  }
  const join = values.join ?? rv?.address;
  if (!join) {
    console.error(`error: --join HOST:PORT is required (no launcher variables are set)\n\n${HELP}`);
    return 2;
  }
  const log = values.quiet ? () => {} : (l: string) => console.error(l);
  try {
    return await runWorker({
      join,
      secret: values.secret ?? null,
      listenHost: values["listen-host"] ?? (rv && !values.join ? launchHost(rv) : undefined),
      name: values.name,
      log,
    });
  } catch (e) {
    console.error(`worker: ${(e as Error).message}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
