// Running commands for the benchmarks: a subprocess with its output, JSON
// lines, and a shell command on N netlab hosts (host 0's JSON lines back).
// Internal to scripts/.

/** The repository root (benchmarks run their subprocesses there). */
export const ROOT = new URL("../", import.meta.url).pathname;

/** Runs `cmd` in the repository root; resolves to stdout, throws with stderr's tail on failure. */
export async function runCommand(cmd: string[], env?: Record<string, string>): Promise<string> {
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdout: "piped",
    stderr: "piped",
    cwd: ROOT,
    env,
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (out.code !== 0) {
    throw new Error(
      `${cmd.join(" ").slice(0, 200)} failed (exit ${out.code}):\n${
        new TextDecoder().decode(out.stderr).slice(-2000)
      }`,
    );
  }
  return text;
}

/** The lines of `text` that are JSON objects, parsed. */
export function jsonLines(text: string): Record<string, unknown>[] {
  return text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

/** Runs the shell command `inner` on N netlab hosts at `rate`; returns host 0's JSON lines. */
export async function netlabHost0(
  ranks: number,
  rate: string,
  delay: string | undefined,
  inner: string,
  name = "qlab",
): Promise<Record<string, unknown>[]> {
  const cmd = ["bash", "scripts/netlab", "--hosts", String(ranks), "--rate", rate, "--name", name];
  if (delay) cmd.push("--delay", delay);
  cmd.push("--", "bash", "-c", inner);
  const text = await runCommand(cmd);
  // netlab prefixes each host's lines with "[hostK] ".
  const host0 = text.split("\n").filter((l) => l.startsWith("[host0] ")).map((l) => l.slice(8));
  return jsonLines(host0.join("\n"));
}
