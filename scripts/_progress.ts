// The progress line of the long commands: when stdout is a terminal, one line redrawn in place
// (`step 340/1500  5.9 steps/s  ETA 3m17s  quality 287.4`); otherwise plain lines only (no
// carriage returns, no escape codes), and only where a command asks for them (commands that
// print a line per evaluation or per case leave those as their non-terminal output).
//
// Internal to scripts/.

const encoder = new TextEncoder();

/** Options of {@linkcode Progress}. */
export interface ProgressOptions {
  /** Units to do in all. */
  total: number;
  /** What one unit is called (`step`, `case`, `run`); plural with an `s`. @default {"step"} */
  unit?: string;
  /** Units already done at the start (a resumed run); the rate counts from here. @default {0} */
  start?: number;
  /** Draw in place (a terminal). @default {Deno.stdout.isTerminal()} */
  isTerminal?: boolean;
  /** Where the progress line and {@linkcode Progress.log} lines go. @default {stdout} */
  write?: (text: string) => void;
  /** Where {@linkcode Progress.log} lines with `stderr` go. @default {stderr} */
  writeErr?: (text: string) => void;
  /** Milliseconds now (for tests). @default {performance.now} */
  now?: () => number;
  /** The rate is measured over the last this many milliseconds. @default {10000} */
  windowMs?: number;
  /** Terminal: redraw at most this often, except the last tick. @default {100} */
  redrawMs?: number;
  /**
   * Not a terminal: a plain progress line when at least this many milliseconds passed since
   * the last one (0: at every tick). @default {Infinity: none; the command's own lines show}
   */
  plainEveryMs?: number;
  /** Terminal width, to cut the line short of it. @default {the console's, when known} */
  columns?: number;
  /** Print nothing at all (`--quiet`). */
  quiet?: boolean;
  /**
   * Measure the rate from the first tick rather than from construction (a training run: the
   * start-up before its first step is not a step's time).
   */
  fromFirstTick?: boolean;
}

/** `37s`, `3m17s`, `1h02m`; `--` when unknown. */
export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  const m = Math.floor(s / 60);
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

/** `5.9 steps/s`, `142 steps/s`, `0.42 steps/s`; slower than one per 10 s: `12.3 s/step`. */
export function formatRate(perSecond: number, unit = "step"): string {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return `-- ${unit}s/s`;
  if (perSecond < 0.1) return `${(1 / perSecond).toFixed(1)} s/${unit}`;
  const digits = perSecond >= 100 ? 0 : perSecond >= 1 ? 1 : 2;
  return `${perSecond.toFixed(digits)} ${unit}s/s`;
}

/**
 * One progress line: `tick(done, extra)` as units finish, `log(line)` for lines that go above
 * it, `done()` at the end. The rate is over a sliding window, the ETA the units left at that
 * rate.
 */
export class Progress {
  readonly total: number;
  readonly unit: string;
  readonly isTerminal: boolean;
  #write: (text: string) => void;
  #writeErr: (text: string) => void;
  #now: () => number;
  #windowMs: number;
  #redrawMs: number;
  #plainEveryMs: number;
  #columns: number | undefined;
  #quiet: boolean;
  /** (ms, done) samples, oldest first; the first one older than the window is kept as anchor. */
  #samples: [number, number][] = [];
  #shown = ""; // the line on screen (terminal)
  #lastDraw = -Infinity;
  #lastPlain = -Infinity;
  #done: number;
  #extra = "";
  #finished = false;

  constructor(options: ProgressOptions) {
    this.total = options.total;
    this.unit = options.unit ?? "step";
    this.#quiet = options.quiet ?? false;
    this.isTerminal = options.isTerminal ?? Deno.stdout.isTerminal();
    this.#write = options.write ??
      ((t) => void Deno.stdout.writeSync(encoder.encode(t)));
    this.#writeErr = options.writeErr ??
      ((t) => void Deno.stderr.writeSync(encoder.encode(t)));
    this.#now = options.now ?? (() => performance.now());
    this.#windowMs = options.windowMs ?? 10_000;
    this.#redrawMs = options.redrawMs ?? 100;
    this.#plainEveryMs = options.plainEveryMs ?? Infinity;
    this.#columns = options.columns;
    if (this.#columns === undefined && this.isTerminal && options.write === undefined) {
      try {
        this.#columns = Deno.consoleSize().columns;
      } catch {
        // not a console after all
      }
    }
    this.#done = options.start ?? 0;
    if (!options.fromFirstTick) this.#samples.push([this.#now(), this.#done]);
  }

  /** Units per second over the window (NaN before a unit is done). */
  rate(): number {
    const s = this.#samples;
    if (s.length < 2) return NaN;
    const [t0, d0] = s[0], [t1, d1] = s[s.length - 1];
    return t1 > t0 && d1 > d0 ? ((d1 - d0) * 1000) / (t1 - t0) : NaN;
  }

  /** Seconds left at the current rate (NaN when unknown). */
  eta(): number {
    return (this.total - this.#done) / this.rate();
  }

  /** The line as it would be shown now. */
  line(): string {
    const width = String(this.total).length;
    const parts = [
      `${this.unit} ${String(this.#done).padStart(width)}/${this.total}`,
      formatRate(this.rate(), this.unit),
      this.#done >= this.total ? "done" : `ETA ${formatEta(this.eta())}`,
    ];
    if (this.#extra) parts.push(this.#extra);
    return parts.join("  ");
  }

  /**
   * `done` units are finished; `extra` (the latest figures, e.g. `quality 287.4`) ends the
   * line. Terminal: redraws (at most every `redrawMs`); otherwise a plain line when
   * `plainEveryMs` has passed.
   */
  tick(done: number, extra?: string): void {
    const now = this.#now();
    this.#done = done;
    if (extra !== undefined) this.#extra = extra;
    const s = this.#samples;
    s.push([now, done]);
    while (s.length > 2 && s[1][0] <= now - this.#windowMs) s.shift();
    if (this.#quiet || this.#finished) return;
    if (this.isTerminal) {
      if (now - this.#lastDraw >= this.#redrawMs || done >= this.total) {
        this.#lastDraw = now;
        this.#draw();
      }
    } else if (
      Number.isFinite(this.#plainEveryMs) && now - this.#lastPlain >= this.#plainEveryMs
    ) {
      this.#lastPlain = now;
      this.#write(this.line() + "\n");
    }
  }

  /**
   * Prints a whole line above the progress line (terminal: the progress line is cleared,
   * the line written, the progress line drawn again). `stderr` sends it there.
   */
  log(line: string, options: { stderr?: boolean } = {}): void {
    if (this.#quiet) return;
    const out = options.stderr ? this.#writeErr : this.#write;
    if (this.isTerminal && this.#shown) {
      this.#write("\r\x1b[2K");
      out(line + "\n");
      this.#draw();
    } else out(line + "\n");
  }

  /** Removes the progress line (terminal); later ticks draw nothing. */
  done(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.isTerminal && this.#shown && !this.#quiet) this.#write("\r\x1b[2K");
    this.#shown = "";
  }

  #draw(): void {
    let text = this.line();
    // A console of unknown size (0 columns, as under some pseudo-terminals) cuts nothing.
    if (this.#columns !== undefined && this.#columns > 0 && text.length >= this.#columns) {
      text = text.slice(0, Math.max(0, this.#columns - 1));
    }
    this.#shown = text;
    this.#write(`\r${text}\x1b[K`);
  }
}
