import assert from "node:assert/strict";
import { deserializeError, serializeError } from "../../actors/error_codec.ts";
import { MailboxFullError, RemoteError, SupervisorError } from "../../actors/errors.ts";
import {
  CollectiveError,
  CollectiveTimeoutError,
  LinkError,
  NonFiniteError,
  QodaError,
  QuantizationError,
  RemoteFailureError,
  ReplicaDivergenceError,
  UnknownNameError,
} from "../../runtime/errors.ts";

/** Serialize, pass through structured clone (as postMessage would), revive. */
const roundTrip = (e: unknown): Error => deserializeError(structuredClone(serializeError(e)));

Deno.test("serializeError() round-trips LinkError with culprit and code", () => {
  const orig = new LinkError("peer-closed", 3, "rank 3 closed the connection", {
    cause: new TypeError("socket reset"),
  });
  const e = roundTrip(orig);
  assert.ok(e instanceof LinkError);
  assert.ok(e instanceof CollectiveError);
  assert.ok(e instanceof QodaError);
  assert.equal(e.name, "LinkError");
  assert.equal(e.code, "peer-closed");
  assert.equal(e.culprit, 3);
  assert.equal(e.message, orig.message);
  assert.ok(e.cause instanceof TypeError);
  assert.equal((e.cause as Error).message, "socket reset");
});

Deno.test("deserializeError() revives unknown errors as RemoteError with the original name", () => {
  class CudaError extends Error {
    deviceId = 1;
    constructor(m: string) {
      super(m);
      this.name = "CudaError";
    }
  }
  const e = roundTrip(new CudaError("illegal memory access"));
  assert.ok(e instanceof RemoteError);
  assert.ok(!(e instanceof CudaError));
  assert.equal(e.name, "RemoteError");
  assert.equal(e.remoteName, "CudaError");
  assert.equal(e.message, "illegal memory access");
  assert.deepEqual(e.data, { deviceId: 1 });
  // Forwarded again, it still stands for the original.
  const again = roundTrip(e);
  assert.ok(again instanceof RemoteError);
  assert.equal(again.remoteName, "CudaError");
  assert.deepEqual(again.data, { deviceId: 1 });
});

Deno.test("deserializeError() revives every typed error with its fields and exact message", () => {
  const cases: [Error, Record<string, unknown>][] = [
    [new QodaError("generic"), {}],
    [new QuantizationError("dense/kernel", "bits out of range"), { layer: "dense/kernel" }],
    [new NonFiniteError("conv1", 7, Infinity), { layer: "conv1", index: 7, value: Infinity }],
    [new UnknownNameError("scheme", "zip", ["none", "qsgd"]), {
      requested: "zip",
      valid: ["none", "qsgd"],
    }],
    [new CollectiveError("protocol", -1, "bad opcode"), { code: "protocol", culprit: -1 }],
    [new CollectiveTimeoutError(2, 30_000, "waiting for chunk 5"), {
      code: "timeout",
      culprit: 2,
      timeoutMs: 30_000,
    }],
    [new RemoteFailureError("io", 1, 0, "link down"), { code: "io", culprit: 1, reporter: 0 }],
    [new MailboxFullError("w0", "sup", 8), { actor: "w0", sender: "sup", capacity: 8 }],
    [new RangeError("bad size 3"), {}],
  ];
  for (const [orig, fields] of cases) {
    const e = roundTrip(orig);
    assert.equal(Object.getPrototypeOf(e), Object.getPrototypeOf(orig), orig.name);
    assert.equal(e.name, orig.name);
    assert.equal(e.message, orig.message, orig.name);
    for (const [k, v] of Object.entries(fields)) {
      assert.deepEqual((e as unknown as Record<string, unknown>)[k], v, `${orig.name}.${k}`);
    }
  }
});

Deno.test("serializeError() handles non-Error values and malformed input", () => {
  assert.deepEqual(serializeError("just a string"), { name: "Error", message: "just a string" });
  assert.deepEqual(serializeError({ code: 1 }), { name: "Error", message: '{"code":1}' });
  const e = deserializeError(42);
  assert.ok(e instanceof RemoteError);
  assert.match(e.message, /malformed/);
  const cyclic = new Error("loop");
  cyclic.cause = cyclic;
  const s = serializeError(cyclic); // depth-limited, no stack overflow
  assert.equal(s.name, "Error");
});

Deno.test("deserializeError() revives the runtime's own failures: divergence and a supervisor giving up", () => {
  const div = deserializeError(serializeError(new ReplicaDivergenceError("step 10: differ")));
  assert.ok(div instanceof ReplicaDivergenceError);
  assert.equal(div.message, "step 10: differ");
  const sup = deserializeError(
    serializeError(new SupervisorError("giving up", { cause: new LinkError("io", 1, "reset") })),
  );
  assert.ok(sup instanceof SupervisorError);
  assert.ok(sup.cause instanceof LinkError);
});
