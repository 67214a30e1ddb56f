# Wire schema of qoda-ring: every message of runtime/wire/messages.ts.
#
# One root struct `Frame` whose anonymous union holds exactly one message.
# runtime/wire/codec.ts maps these to and from the TypeScript union
# `WireMessage`; nothing outside runtime/wire/ touches these types.
#
# Regenerate runtime/wire/ring_capnp.ts with `deno task gen:schema`
# (needs Debian's `capnproto` for `capnpc`). Never edit the generated file.
#
# Widths: 64-bit ids and checksums are UInt64 (bigint in TS). Counters that
# may outgrow 2^32 over a long run (opId, step) and element offsets are
# 64-bit too; the codec rejects values above Number.MAX_SAFE_INTEGER where the
# TS type is `number`. Clock and loss values are Float64.

@0xa89f5ac7fde05d86;

enum Phase {
  reduceScatter @0;
  allGather @1;
}

struct Hello {
  version @0 :UInt32;
  ringId @1 :UInt64;
  epoch @2 :UInt32;
  rank @3 :UInt32;
  worldSize @4 :UInt32;
  nonce @5 :Data;
  mac @6 :Data;
}

struct Auth {
  mac @0 :Data;
}

struct Chunk {
  ringId @0 :UInt64;
  epoch @1 :UInt32;
  opId @2 :UInt64;
  phase @3 :Phase;
  hop @4 :UInt32;
  segmentIndex @5 :UInt32;  # TS `segment` (the name `segment` clashes with capnp-es Pointer.segment)
  totalLength @6 :UInt64;
  offset @7 :UInt64;
  count @8 :UInt64;
  scheme @9 :Text;
  bits @10 :UInt8;
  payload @11 :Data;
  shmSlot @12 :UInt32;    # 0: the payload is inline; k ≥ 1: it is shmBytes bytes in shared-memory slot k − 1
  shmBytes @13 :UInt32;
}

struct Barrier {
  epoch @0 :UInt32;
  id @1 :UInt64;
}

struct StepReport {
  epoch @0 :UInt32;
  step @1 :UInt64;
  rank @2 :UInt32;
  sqDiff @3 :Float64;
  nonFinite @4 :Bool;
  computeMs @5 :Float64;
  quantizeMs @6 :Float64;
  communicateMs @7 :Float64;
  checksum @8 :UInt64;
  optimizerMs @9 :Float64;
  controlMs @10 :Float64;    # the previous step's wait for the supervisor's command
  collectives @11 :UInt32;   # collectives this step issued
  bytesSent @12 :UInt64;     # payload bytes this rank sent this step
}

struct StepCommand {
  epoch @0 :UInt32;
  step @1 :UInt64;
  gamma @2 :Float64;
  eta @3 :Float64;
  skip @4 :Bool;
  levelTableVersion @5 :UInt32;
  commit @6 :Bool;
}

struct Heartbeat {
  epoch @0 :UInt32;
  rank @1 :UInt32;
  timeMs @2 :Float64;
}

struct ErrorReport {
  epoch @0 :UInt32;
  opId @1 :Int64;      # -1 when no operation
  reporter @2 :UInt32;
  culprit @3 :Int32;   # -1 when unknown
  code @4 :Text;
  message @5 :Text;
}

struct Shutdown {
  epoch @0 :UInt32;
  reason @1 :Text;
}

# Control-plane message between the supervisor and a worker (rendezvous,
# ring assignment, level tables, commit parts): `kind` names it, `json`
# holds its fields, `blob` any bulk bytes (parameters, histograms).
struct Control {
  kind @0 :Text;
  json @1 :Text;
  blob @2 :Data;
}

struct Frame {
  union {
    hello @0 :Hello;
    auth @1 :Auth;
    chunk @2 :Chunk;
    barrier @3 :Barrier;
    stepReport @4 :StepReport;
    stepCommand @5 :StepCommand;
    heartbeat @6 :Heartbeat;
    error @7 :ErrorReport;
    shutdown @8 :Shutdown;
    control @9 :Control;
  }
}
