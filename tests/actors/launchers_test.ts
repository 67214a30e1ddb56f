// train() under the launchers users already have: the processes read their
// rank, world size and rendezvous from the launcher's environment, rank 0
// hosts the supervisor, the others join it, and the result is the one an
// in-process run of the same job gives.
import assert from "node:assert/strict";
import { train } from "../../mod.ts";
import { expandHostList, RendezvousError, rendezvousFromEnv } from "../../actors/rendezvous.ts";

const SCRIPT = new URL("./_launched.ts", import.meta.url).pathname;

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** The same job in one process, for reference. */
async function reference(workers: number): Promise<string> {
  const r = await train({
    problem: new URL("./_user_problem.ts", import.meta.url),
    runtime: "inprocess",
    collective: "allgather", // as _launched.ts: `auto` would choose by timing
    workers,
    steps: 40,
    lr: 2,
    seed: 3,
    checksumEvery: 10,
  });
  return r.checksum;
}

async function outputOf(child: Deno.ChildProcess): Promise<string> {
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, `${text}\n${new TextDecoder().decode(out.stderr)}`);
  return text;
}

Deno.test("rendezvousFromEnv() reads torchrun, Slurm, OpenMPI and Kubernetes variables", () => {
  assert.equal(rendezvousFromEnv({}), null);
  assert.deepEqual(
    rendezvousFromEnv({ MASTER_ADDR: "h0", MASTER_PORT: "1234", RANK: "2", WORLD_SIZE: "3" }),
    { launcher: "torchrun", rank: 2, worldSize: 3, localRank: 0, address: "h0:1234" },
  );
  assert.deepEqual(
    rendezvousFromEnv({
      SLURM_PROCID: "3",
      SLURM_NTASKS: "4",
      SLURM_LOCALID: "1",
      SLURM_JOB_NODELIST: "gpu[7-8],cpu1",
    }),
    { launcher: "slurm", rank: 3, worldSize: 4, localRank: 1, address: "gpu7:29500" },
  );
  assert.deepEqual(
    rendezvousFromEnv({
      OMPI_COMM_WORLD_RANK: "1",
      OMPI_COMM_WORLD_SIZE: "2",
      OMPI_COMM_WORLD_LOCAL_RANK: "1",
    }),
    { launcher: "openmpi", rank: 1, worldSize: 2, localRank: 1, address: "127.0.0.1:29500" },
  );
  assert.deepEqual(
    rendezvousFromEnv({
      JOB_COMPLETION_INDEX: "0",
      QODA_RING_WORLD_SIZE: "4",
      QODA_RING_SUPERVISOR: "train-0.train",
      MASTER_PORT: "29501",
    }),
    { launcher: "kubernetes", rank: 0, worldSize: 4, localRank: 0, address: "train-0.train:29501" },
  );
});

Deno.test("rendezvousFromEnv() names the variable that is missing or contradicts another", () => {
  const bad: [Record<string, string>, RegExp][] = [
    [{ RANK: "0", WORLD_SIZE: "2" }, /RANK and WORLD_SIZE set, but MASTER_ADDR is not/],
    [{ RANK: "2", WORLD_SIZE: "2", MASTER_ADDR: "h" }, /RANK=2 must be in 0\.\.1 \(WORLD_SIZE=2\)/],
    [{ RANK: "0", MASTER_ADDR: "h" }, /WORLD_SIZE is not set/],
    [{ RANK: "x", WORLD_SIZE: "2", MASTER_ADDR: "h" }, /RANK="x" is not an integer/],
    [{ RANK: "0", WORLD_SIZE: "2", MASTER_ADDR: "h", MASTER_PORT: "70000" }, /MASTER_PORT=70000/],
    [{ SLURM_PROCID: "0", SLURM_NTASKS: "2" }, /SLURM_JOB_NODELIST is not/],
    [{ JOB_COMPLETION_INDEX: "0", QODA_RING_WORLD_SIZE: "2" }, /QODA_RING_SUPERVISOR/],
  ];
  for (const [env, re] of bad) {
    assert.throws(
      () => rendezvousFromEnv(env),
      (e: Error) => e instanceof RendezvousError && re.test(e.message),
    );
  }
});

Deno.test("expandHostList() expands Slurm's compressed host lists", () => {
  assert.deepEqual(expandHostList("node[01-04,07]"), [
    "node01",
    "node02",
    "node03",
    "node04",
    "node07",
  ]);
  assert.deepEqual(expandHostList("a1,b[2-3]x,c"), ["a1", "b2x", "b3x", "c"]);
  assert.deepEqual(expandHostList("rack[1-2]-n[1-2]"), [
    "rack1-n1",
    "rack1-n2",
    "rack2-n1",
    "rack2-n2",
  ]);
  assert.throws(() => expandHostList("node[3-1]"), /bad range "3-1"/);
  assert.throws(() => expandHostList("node[1-2"), /unbalanced/);
});

Deno.test("4 processes with only torchrun-style variables form one job, identical to an in-process run", async () => {
  const port = freePort();
  const children = [0, 1, 2, 3].map((rank) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", SCRIPT],
      env: {
        MASTER_ADDR: "127.0.0.1",
        MASTER_PORT: String(port),
        RANK: String(rank),
        WORLD_SIZE: "4",
        LOCAL_RANK: String(rank),
      },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn()
  );
  const lines = (await Promise.all(children.map(outputOf))).map((t) =>
    JSON.parse(t.trim().split("\n").at(-1)!)
  );
  assert.deepEqual(lines.map((l) => l.rank), [0, 1, 2, 3]);
  assert.ok(lines.every((l) => l.workers === 4));
  const expected = await reference(4);
  assert.deepEqual(lines.map((l) => l.checksum), [expected, expected, expected, expected]);
});

async function hasMpirun(): Promise<boolean> {
  try {
    const o = await new Deno.Command("mpirun", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return o.success;
  } catch {
    return false;
  }
}
const mpirun = await hasMpirun();

Deno.test({
  name: "mpirun -np 4 forms a 4-rank job from OpenMPI's variables",
  ignore: !mpirun && Deno.env.get("CI") !== "true",
  fn: async () => {
    const port = freePort();
    const child = new Deno.Command("mpirun", {
      args: [
        "--allow-run-as-root",
        "--oversubscribe",
        "-np",
        "4",
        "-x",
        `MASTER_PORT=${port}`,
        Deno.execPath(),
        "run",
        "-A",
        SCRIPT,
      ],
      env: { OMPI_MCA_plm_rsh_agent: "" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const lines = (await outputOf(child)).trim().split("\n").filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.rank).sort(), [0, 1, 2, 3]);
    const expected = await reference(4);
    assert.ok(lines.every((l) => l.checksum === expected), JSON.stringify(lines));
  },
});

function netlabReady(): boolean {
  try {
    if (Deno.build.os !== "linux" || Deno.uid() !== 0) return false;
    return new Deno.Command("ip", { args: ["netns", "list"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

Deno.test({
  name: "4 workers on 4 netlab hosts, with only torchrun-style variables, match an in-process run",
  ignore: !netlabReady(),
  fn: async () => {
    const netlab = new URL("../../scripts/netlab", import.meta.url).pathname;
    // Each host: rank from its namespace, rank 0's address as MASTER_ADDR, its own as QODA_RING_HOST.
    const rank =
      'RANK=$NETLAB_RANK WORLD_SIZE=4 MASTER_ADDR="${NETLAB_PEERS%%,*}" MASTER_PORT=29555';
    const child = new Deno.Command("bash", {
      args: [
        netlab,
        "--hosts",
        "4",
        "--rate",
        "1gbit",
        "--name",
        `nll${Deno.pid % 100000}`,
        "--",
        "sh",
        "-c",
        `${rank} QODA_RING_HOST=$NETLAB_ADDR QODA_RING_SECRET=netlab-test ` +
        `${Deno.execPath()} run -A ${SCRIPT}`,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const lines = (await outputOf(child)).split("\n").map((l) => l.replace(/^\[host\d+\] /, ""))
      .filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.rank).sort(), [0, 1, 2, 3]);
    const expected = await reference(4);
    assert.ok(lines.every((l) => l.checksum === expected), JSON.stringify(lines));
  },
});
