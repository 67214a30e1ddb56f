// Runs a script of scripts/ as a child process (like `deno task …`) from the
// repository root, without colours; returns its exit code and output.

const ROOT = new URL("../../", import.meta.url).pathname;

/** What a script run printed. */
export interface ScriptRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `scripts/<script>` with `args`. */
export async function runScript(script: string, args: string[]): Promise<ScriptRun> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}scripts/${script}`, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code, stdout: dec.decode(stdout), stderr: dec.decode(stderr) };
}
