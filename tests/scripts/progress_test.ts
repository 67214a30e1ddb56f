import assert from "node:assert/strict";
import { formatEta, formatRate, Progress, type ProgressOptions } from "../../scripts/_progress.ts";

/** A progress line on a fake clock, writing into strings. */
function fake(options: Partial<ProgressOptions> & { total: number }) {
  let t = 0;
  const out: string[] = [], err: string[] = [];
  const p = new Progress({
    now: () => t,
    write: (s) => out.push(s),
    writeErr: (s) => err.push(s),
    ...options,
  });
  return {
    p,
    out,
    err,
    at: (ms: number) => {
      t = ms;
    },
  };
}

Deno.test("formatEta() gives seconds, minutes and hours", () => {
  assert.equal(formatEta(0), "0s");
  assert.equal(formatEta(37.4), "37s");
  assert.equal(formatEta(59.6), "1m00s");
  assert.equal(formatEta(197), "3m17s");
  assert.equal(formatEta(3599), "59m59s");
  assert.equal(formatEta(3720), "1h02m");
  assert.equal(formatEta(NaN), "--");
  assert.equal(formatEta(Infinity), "--");
  assert.equal(formatEta(-1), "--");
});

Deno.test("formatRate() keeps two or three significant digits, seconds per unit when slow", () => {
  assert.equal(formatRate(5.94), "5.9 steps/s");
  assert.equal(formatRate(142.3), "142 steps/s");
  assert.equal(formatRate(0.42, "case"), "0.42 cases/s");
  assert.equal(formatRate(1 / 12.3, "run"), "12.3 s/run");
  assert.equal(formatRate(NaN), "-- steps/s");
  assert.equal(formatRate(0), "-- steps/s");
});

Deno.test("Progress on a terminal: one line redrawn in place, with rate and ETA", () => {
  const { p, out, at } = fake({ total: 1500, isTerminal: true });
  at(1000);
  p.tick(10, "quality 300.1");
  // 10 steps in 1 s: 10 steps/s, 1490 left: 2m29s.
  assert.deepEqual(out, ["\rstep   10/1500  10.0 steps/s  ETA 2m29s  quality 300.1\x1b[K"]);
  at(1050);
  p.tick(11); // within redrawMs (100 ms) of the last drawing: not drawn
  assert.equal(out.length, 1);
  at(2000);
  p.tick(20);
  assert.equal(out.at(-1), "\rstep   20/1500  10.0 steps/s  ETA 2m28s  quality 300.1\x1b[K");
  for (const s of out) assert.ok(!s.includes("\n"), "no new line while in place");
  // A line above it: the progress line is cleared, the line printed, the progress line redrawn.
  out.length = 0;
  p.log("step 20  quality 287.4");
  assert.deepEqual(out, [
    "\r\x1b[2K",
    "step 20  quality 287.4\n",
    "\rstep   20/1500  10.0 steps/s  ETA 2m28s  quality 300.1\x1b[K",
  ]);
  out.length = 0;
  p.done();
  assert.deepEqual(out, ["\r\x1b[2K"], "done() removes the line");
  p.tick(30);
  p.done();
  assert.deepEqual(out, ["\r\x1b[2K"], "nothing after done()");
});

Deno.test("Progress on a terminal: lines to stderr clear the progress line first; the last tick is always drawn", () => {
  const { p, out, err, at } = fake({ total: 3, unit: "case", isTerminal: true });
  at(2000);
  p.tick(1, "qsgd 8-bit");
  p.log("supervisor: ring formed", { stderr: true });
  assert.deepEqual(err, ["supervisor: ring formed\n"]);
  assert.equal(out[1], "\r\x1b[2K");
  assert.ok(out[2].startsWith("\rcase 1/3  0.50 cases/s  ETA 4s  qsgd 8-bit"));
  at(2010);
  p.tick(3);
  assert.ok(out.at(-1)!.startsWith("\rcase 3/3  "), "the final count is drawn");
  assert.ok(out.at(-1)!.includes("  done  "));
});

Deno.test("Progress on a terminal: a line is cut short of the terminal's width", () => {
  const { p, out, at } = fake({ total: 100, isTerminal: true, columns: 30 });
  at(1000);
  p.tick(1, "a long list of figures that does not fit");
  assert.equal(out[0], `\r${"step   1/100  1.0 steps/s  ETA 1m39s".slice(0, 29)}\x1b[K`);
});

Deno.test("Progress not on a terminal: plain lines only, and only when asked for", () => {
  const quiet = fake({ total: 100, isTerminal: false });
  quiet.at(1000);
  quiet.p.tick(10, "x");
  quiet.p.log("step 10  quality 1");
  quiet.p.done();
  // Without plainEveryMs the command's own lines are the whole output.
  assert.deepEqual(quiet.out, ["step 10  quality 1\n"]);

  const { p, out, at } = fake({ total: 100, isTerminal: false, plainEveryMs: 5000 });
  at(1000);
  p.tick(10, "quality 287.4");
  at(2000);
  p.tick(20); // under 5 s after the last line
  at(6000);
  p.tick(60);
  p.log("an evaluation line");
  p.done();
  assert.deepEqual(out, [
    "step  10/100  10.0 steps/s  ETA 9s  quality 287.4\n",
    "step  60/100  10.0 steps/s  ETA 4s  quality 287.4\n",
    "an evaluation line\n",
  ]);
  for (const s of out) {
    assert.ok(
      !s.includes("\r") && !s.includes("\x1b"),
      `no carriage return or escape code in ${JSON.stringify(s)}`,
    );
  }
});

Deno.test("Progress: the rate is over a sliding window, from the first tick when asked", () => {
  const { p, at } = fake({ total: 1000, isTerminal: false, windowMs: 10_000, fromFirstTick: true });
  at(30_000); // a slow start-up: not counted
  p.tick(1);
  assert.ok(Number.isNaN(p.rate()), "one tick: no rate yet");
  at(31_000);
  p.tick(11);
  assert.equal(p.rate(), 10);
  // 10 steps/s for 20 s, then 2 steps/s for 10 s: the window sees only the slow part.
  for (let s = 1; s <= 20; s++) {
    at(31_000 + 1000 * s);
    p.tick(11 + 10 * s);
  }
  for (let s = 1; s <= 10; s++) {
    at(51_000 + 1000 * s);
    p.tick(211 + 2 * s);
  }
  assert.equal(p.rate(), 2);
  assert.equal(p.eta(), (1000 - 231) / 2);
});

Deno.test("Progress: quiet prints nothing", () => {
  const { p, out, err, at } = fake({ total: 10, isTerminal: true, quiet: true });
  at(100);
  p.tick(5);
  p.log("a");
  p.log("b", { stderr: true });
  p.done();
  assert.deepEqual([out, err], [[], []]);
});
