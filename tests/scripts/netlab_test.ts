// Tests for scripts/netlab (network-namespace lab). Needs root and `ip netns`;
// ignored otherwise.
import assert from "node:assert/strict";

const NETLAB = new URL("../../scripts/netlab", import.meta.url).pathname;

function probe(): boolean {
  try {
    if (Deno.build.os !== "linux" || Deno.uid() !== 0) return false;
    const r = new Deno.Command("ip", { args: ["netns", "list"], stdout: "null", stderr: "null" })
      .outputSync();
    return r.success;
  } catch {
    return false;
  }
}
const ignore = !probe();

async function netlab(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command("bash", {
    args: [NETLAB, ...args],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

async function leftovers(name: string): Promise<string[]> {
  const dec = new TextDecoder();
  const ns = dec.decode(
    (await new Deno.Command("ip", { args: ["netns", "list"] }).output()).stdout,
  );
  const links = dec.decode(
    (await new Deno.Command("ip", { args: ["-o", "link"] }).output()).stdout,
  );
  return [...ns.split("\n"), ...links.split("\n")].filter((l) => l.includes(name));
}

const uniq = () => `nlt${Deno.pid % 100000}${Math.floor(Math.random() * 1000)}`;

Deno.test({
  name: "netlab: 3 hosts see their rank, address and peers, and no shared memory; cleaned up",
  ignore,
  async fn() {
    const name = uniq();
    const r = await netlab([
      "--hosts",
      "3",
      "--rate",
      "1gbit",
      "--name",
      name,
      "--",
      "sh",
      "-c",
      'echo "R=$NETLAB_RANK H=$NETLAB_HOSTS A=$NETLAB_ADDR P=$NETLAB_PEERS S=$QODA_RING_SHM"',
    ]);
    assert.deepEqual(r.code, 0, r.err);
    const peers = "10.77.0.1,10.77.0.2,10.77.0.3";
    for (let k = 0; k < 3; k++) {
      assert(
        r.out.includes(`[host${k}] R=${k} H=3 A=10.77.0.${k + 1} P=${peers} S=0`),
        `rank ${k} missing in:\n${r.out}`,
      );
    }
    assert.deepEqual(await leftovers(name), []);
  },
});

Deno.test({
  name: "netlab: a failing host gives a non-zero exit; cleaned up",
  ignore,
  async fn() {
    const name = uniq();
    const r = await netlab([
      "--hosts",
      "3",
      "--rate",
      "100mbit",
      "--name",
      name,
      "--",
      "sh",
      "-c",
      '[ "$NETLAB_RANK" != 1 ] || exit 3',
    ]);
    assert(r.code !== 0, "expected failure");
    assert(r.err.includes("host1 exited with status 3"), r.err);
    assert.deepEqual(await leftovers(name), []);
    const bad = await netlab(["--hosts", "33", "--rate", "1gbit", "--name", name, "--", "true"]);
    assert(bad.code !== 0);
  },
});

// rank 1 receives for the sender's duration and prints Mbit/s; rank 0 sends.
const TP_SCRIPT = `
const rank = Number(Deno.env.get("NETLAB_RANK"));
const peers = Deno.env.get("NETLAB_PEERS")!.split(",");
const PORT = 5301, SECS = 2;
if (rank === 1) {
  const l = Deno.listen({ hostname: "0.0.0.0", port: PORT });
  const c = await l.accept();
  const buf = new Uint8Array(1 << 20);
  let bytes = 0, t0 = 0, t1 = 0;
  for (;;) {
    const n = await c.read(buf);
    if (n === null) break;
    const now = performance.now();
    if (!t0) t0 = now; else bytes += n;
    t1 = now;
  }
  console.log("MBPS=" + (bytes * 8 / ((t1 - t0) / 1000) / 1e6).toFixed(1));
} else if (rank === 0) {
  let c;
  for (let i = 0; ; i++) {
    try { c = await Deno.connect({ hostname: peers[1], port: PORT }); break; }
    catch (e) { if (i > 100) throw e; await new Promise((r) => setTimeout(r, 50)); }
  }
  const buf = new Uint8Array(256 << 10);
  const end = performance.now() + SECS * 1000;
  while (performance.now() < end) {
    let off = 0;
    while (off < buf.length) off += await c.write(buf.subarray(off));
  }
  c.close();
}
`;

Deno.test({
  name: "netlab: 2 hosts at 100mbit measure 60-105% of nominal",
  ignore,
  async fn() {
    const name = uniq();
    const r = await netlab([
      "--hosts",
      "2",
      "--rate",
      "100mbit",
      "--name",
      name,
      "--",
      Deno.execPath(),
      "eval",
      TP_SCRIPT,
    ]);
    assert.deepEqual(r.code, 0, r.err + r.out);
    const m = r.out.match(/\[host1\] MBPS=([\d.]+)/);
    assert(m, r.out);
    const mbps = Number(m[1]);
    assert(mbps >= 60 && mbps <= 105, `measured ${mbps} Mbit/s at 100mbit`);
    assert.deepEqual(await leftovers(name), []);
  },
});
