// The launcher examples in docs/launch set the variables the code reads: each
// is parsed and every rank's environment, as its launcher would give it, goes
// through rendezvousFromEnv().
import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { rendezvousFromEnv } from "../actors/rendezvous.ts";

const DOCS = new URL("../docs/launch/", import.meta.url);

Deno.test("docs/launch/train-k8s.yaml: an Indexed Job whose pods find rank 0 through the headless Service", async () => {
  const docs = parseAllDocuments(await Deno.readTextFile(new URL("train-k8s.yaml", DOCS)))
    .map((d) => d.toJS());
  const service = docs.find((d) => d.kind === "Service");
  const job = docs.find((d) => d.kind === "Job");
  assert.ok(service && job, "a Service and a Job");
  assert.equal(service.spec.clusterIP, "None", "headless");
  assert.equal(job.spec.completionMode, "Indexed");
  assert.equal(job.spec.template.spec.subdomain, service.metadata.name);
  const container = job.spec.template.spec.containers[0];
  const env: Record<string, string> = {};
  for (const e of container.env) if (e.value !== undefined) env[e.name] = e.value;
  assert.equal(Number(env.QODA_RING_WORLD_SIZE), job.spec.completions);
  assert.equal(job.spec.parallelism, job.spec.completions, "every rank runs at once");
  assert.equal(env.QODA_RING_SUPERVISOR, `${job.metadata.name}-0.${service.metadata.name}`);
  assert.equal(Number(env.MASTER_PORT), service.spec.ports[0].port);
  const mount = container.volumeMounts[0].mountPath;
  assert.ok(env.QODA_RING_SECRET_FILE.startsWith(`${mount}/`), "the secret is a mounted file");
  assert.ok(
    container.env.some((e: { name: string; valueFrom?: unknown }) =>
      e.name === "QODA_RING_HOST" && e.valueFrom
    ),
  );
  for (let index = 0; index < job.spec.completions; index++) {
    const r = rendezvousFromEnv({ ...env, JOB_COMPLETION_INDEX: String(index) });
    assert.deepEqual(r, {
      launcher: "kubernetes",
      rank: index,
      worldSize: job.spec.completions,
      localRank: 0,
      address: `qoda-ring-0.qoda-ring:${service.spec.ports[0].port}`,
    });
  }
});

Deno.test("docs/launch/train.sbatch: srun's tasks meet on the first node of the allocation", async () => {
  const text = await Deno.readTextFile(new URL("train.sbatch", DOCS));
  const sbatch = Object.fromEntries(
    [...text.matchAll(/^#SBATCH --([a-z-]+)=(\S+)/gm)].map((m) => [m[1], m[2]]),
  );
  const exported = Object.fromEntries(
    [...text.matchAll(/^export ([A-Z_]+)=(.+)$/gm)].map((m) => [m[1], m[2].replace(/^"|"$/g, "")]),
  );
  const ntasks = Number(sbatch.ntasks);
  assert.equal(ntasks, Number(sbatch.nodes) * Number(sbatch["ntasks-per-node"]));
  assert.match(text, /^srun .*deno.* run -A /m);
  assert.ok(
    "QODA_RING_SECRET_FILE" in exported && !/--secret/.test(text),
    "no secret on a command line",
  );
  for (let rank = 0; rank < ntasks; rank++) {
    const r = rendezvousFromEnv({
      MASTER_PORT: exported.MASTER_PORT,
      SLURM_PROCID: String(rank),
      SLURM_NTASKS: String(ntasks),
      SLURM_LOCALID: String(rank % Number(sbatch["ntasks-per-node"])),
      SLURM_JOB_NODELIST: "gpu[07-08]",
    });
    assert.equal(r?.rank, rank);
    assert.equal(r?.worldSize, ntasks);
    assert.equal(r?.address, `gpu07:${exported.MASTER_PORT}`);
  }
});
