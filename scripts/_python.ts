// Finding a Python with torch for the Gloo comparison: the python3 first on
// PATH (pyenv, a venv) often has no torch while Debian's /usr/bin/python3 has
// it (apt-get install python3-torch). Candidates are probed in order for
// `import torch.distributed` with Gloo; the choice is a pure function of the
// probes, tested on its own. Internal to scripts/.

/** What probing one candidate found. */
export interface PythonProbe {
  /** The candidate as given (a command on PATH or an absolute path). */
  python: string;
  /** False when it could not be started (not installed). */
  found: boolean;
  /** torch.distributed imported. */
  torch: boolean;
  /** torch.distributed.is_gloo_available(). */
  gloo: boolean;
  /** torch's version, when imported. */
  version?: string;
  /** Why it failed: the last line of its error output. */
  error?: string;
}

/** The candidates, in order: `QODA_PYTHON` when set (and then only it), python3 on PATH, Debian's. */
export function pythonCandidates(env: { QODA_PYTHON?: string }): string[] {
  if (env.QODA_PYTHON) return [env.QODA_PYTHON];
  return ["python3", "/usr/bin/python3"];
}

/** What to install when no candidate has torch with Gloo. */
export const TORCH_INSTALL_HELP =
  "install Debian's PyTorch with `apt-get install -y python3-torch` (used through " +
  "/usr/bin/python3), or `pip install torch` for the python3 first on PATH, or point " +
  "QODA_PYTHON at a python3 that has torch; or run with --compare none";

/**
 * The first candidate with torch.distributed and Gloo, or an error message
 * naming every candidate, what it lacked, and exactly what to install.
 */
export function choosePython(
  probes: PythonProbe[],
  purpose = "--compare gloo",
): { python: string } | { error: string } {
  const ok = probes.find((p) => p.found && p.torch && p.gloo);
  if (ok) return { python: ok.python };
  const why = probes.map((p) => {
    if (!p.found) return `${p.python}: not found`;
    if (!p.torch) return `${p.python}: no torch${p.error ? ` (${p.error})` : ""}`;
    return `${p.python}: torch ${p.version ?? "?"} without Gloo`;
  });
  return {
    error: `${purpose} needs a python3 with torch.distributed (Gloo); tried ${
      why.join("; ")
    }. To fix: ${TORCH_INSTALL_HELP}`,
  };
}

const PROBE =
  "import torch, torch.distributed as d; print(torch.__version__, int(d.is_available() " +
  "and d.is_gloo_available()))";

/** Probes one candidate by running it (a few hundred ms when torch is there). */
export async function probePython(python: string): Promise<PythonProbe> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(python, {
      args: ["-c", PROBE],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).output();
  } catch {
    return { python, found: false, torch: false, gloo: false };
  }
  const text = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
  const m = /^(\S+) ([01])$/.exec(text);
  if (!out.success || !m) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").at(-1);
    return { python, found: true, torch: false, gloo: false, error: err || undefined };
  }
  return { python, found: true, torch: true, gloo: m[2] === "1", version: m[1] };
}

/** Probes the candidates in order, stopping at the first that works; returns the choice. */
export async function findTorchPython(
  env: { QODA_PYTHON?: string } = { QODA_PYTHON: Deno.env.get("QODA_PYTHON") },
  purpose?: string,
): Promise<{ python: string } | { error: string }> {
  const probes: PythonProbe[] = [];
  for (const py of pythonCandidates(env)) {
    const p = await probePython(py);
    probes.push(p);
    if (p.found && p.torch && p.gloo) break;
  }
  return choosePython(probes, purpose);
}
