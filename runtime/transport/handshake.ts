/**
 * The ring handshake: both ends of a new connection prove they belong to the
 * same ring (protocol version, ring id, epoch, world size, adjacent ranks) and,
 * with a shared secret, that they know it.
 *
 * 1. connector → acceptor: `hello` (its rank, a fresh 32-byte nonce Nc)
 * 2. acceptor → connector: `hello` (its rank, a fresh nonce Na,
 *    mac = HMAC-SHA256(secret, "qoda-ring acceptor" ‖ transcript))
 * 3. connector → acceptor: `auth` (mac = HMAC-SHA256(secret, "qoda-ring connector" ‖ transcript))
 *
 * The transcript binds version, ring id, epoch, world size, both ranks and
 * both nonces, so a proof cannot be replayed on another connection, ring or
 * epoch, and each side's proof covers the other's fresh nonce. Without a
 * secret the macs are empty; that is only allowed on loopback (the listener
 * enforces it). MACs are compared in constant time.
 *
 * @module
 */
import { HandshakeError } from "../errors.ts";
import { PROTOCOL_VERSION } from "../wire/messages.ts";
import type { HelloMessage, WireMessage } from "../wire/messages.ts";
import type { Link } from "./link.ts";

/** What both sides must agree on. */
export interface HandshakeParams {
  /** The ring's identifier (both sides must have the same). */
  ringId: bigint;
  /** The ring's generation (both sides must have the same). */
  epoch: number;
  /** This side's rank. */
  rank: number;
  /** The ring's size (both sides must have the same). */
  worldSize: number;
  /** Shared secret; null for none (loopback only). */
  secret: Uint8Array | null;
  /** Give up after this many ms. */
  timeoutMs: number;
  /**
   * How messages name a rank (e.g. the control plane's pseudo-ranks as "the
   * supervisor" and "a worker"). @default {`rank ${rank}`}
   */
  nameOf?: (rank: number) => string;
}

function nameOf(p: HandshakeParams, rank: number): string {
  return p.nameOf ? p.nameOf(rank) : `rank ${rank}`;
}

const encoder = new TextEncoder();

/** The peer ended the handshake (closed, or refused us): nothing to report back. */
class PeerEndedHandshake extends HandshakeError {}

async function hmac(secret: Uint8Array, parts: Uint8Array[]): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    "raw",
    secret as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const len = parts.reduce((s, p) => s + p.length, 0);
  const data = new Uint8Array(len);
  let at = 0;
  for (const p of parts) {
    data.set(p, at);
    at += p.length;
  }
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, data));
}

function transcript(
  p: HandshakeParams,
  connectorRank: number,
  acceptorRank: number,
  nc: Uint8Array,
  na: Uint8Array,
): Uint8Array[] {
  const head = new DataView(new ArrayBuffer(28));
  head.setUint32(0, PROTOCOL_VERSION, true);
  head.setBigUint64(4, p.ringId, true);
  head.setUint32(12, p.epoch, true);
  head.setUint32(16, p.worldSize, true);
  head.setUint32(20, connectorRank, true);
  head.setUint32(24, acceptorRank, true);
  return [new Uint8Array(head.buffer), nc, na];
}

/** Constant-time equality of two byte strings. */
export function macEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

function nonce(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(32));
}

async function next(
  link: Link,
  deadline: number,
  step: string,
  p: HandshakeParams,
): Promise<WireMessage> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new HandshakeError(`timed out waiting for the peer's ${step}`)),
      Math.max(0, deadline - performance.now()),
    );
  });
  try {
    const r = await Promise.race([link.receive(), timeout]);
    if (r === null) {
      throw new PeerEndedHandshake(`the peer closed the connection before its ${step}`);
    }
    const msg = r.msg;
    if (msg.type === "error") {
      r.release();
      throw new PeerEndedHandshake(
        `${nameOf(p, msg.reporter)} refused this connection: ${msg.message}`,
      );
    }
    // Handshake messages are small; copy what we keep and free the buffer.
    const copy = msg.type === "hello"
      ? { ...msg, nonce: msg.nonce.slice(), mac: msg.mac.slice() }
      : msg.type === "auth"
      ? { ...msg, mac: msg.mac.slice() }
      : msg;
    r.release();
    return copy;
  } catch (e) {
    if (e instanceof HandshakeError) throw e;
    throw new HandshakeError(`connection failed during the ${step}: ${(e as Error).message}`, {
      cause: e,
    });
  } finally {
    clearTimeout(timer);
  }
}

function checkHello(m: WireMessage, p: HandshakeParams, expectRank: number): HelloMessage {
  if (m.type !== "hello") throw new HandshakeError(`expected a hello, got a '${m.type}' message`);
  const problems: string[] = [];
  if (m.version !== PROTOCOL_VERSION) {
    problems.push(`protocol version ${m.version} (this side speaks ${PROTOCOL_VERSION})`);
  }
  if (m.ringId !== p.ringId) problems.push(`ring id ${m.ringId} (expected ${p.ringId})`);
  if (m.epoch !== p.epoch) problems.push(`epoch ${m.epoch} (expected ${p.epoch})`);
  if (m.worldSize !== p.worldSize) {
    problems.push(`world size ${m.worldSize} (expected ${p.worldSize})`);
  }
  if (m.rank !== expectRank) {
    problems.push(`${nameOf(p, m.rank)} (expected ${nameOf(p, expectRank)})`);
  }
  if (m.nonce.length !== 32) problems.push(`a ${m.nonce.length}-byte nonce (expected 32)`);
  if (problems.length) throw new HandshakeError(`peer sent ${problems.join(", ")}`);
  return m;
}

function hello(p: HandshakeParams, n: Uint8Array, mac: Uint8Array): HelloMessage {
  return {
    type: "hello",
    version: PROTOCOL_VERSION,
    ringId: p.ringId,
    epoch: p.epoch,
    rank: p.rank,
    worldSize: p.worldSize,
    nonce: n,
    mac,
  };
}

/** Runs one side's handshake; a refusal is also reported to the peer before it is thrown. */
async function reporting(
  link: Link,
  p: HandshakeParams,
  peerRank: number,
  side: () => Promise<void>,
): Promise<void> {
  try {
    await side();
  } catch (e) {
    const refused = e instanceof HandshakeError && !(e instanceof PeerEndedHandshake);
    if (refused) {
      await link.send({
        type: "error",
        epoch: p.epoch,
        opId: -1,
        reporter: p.rank,
        culprit: peerRank,
        code: "handshake",
        message: (e as Error).message,
      }).catch(() => {});
    }
    throw e;
  }
}

/**
 * The connecting side (rank r connecting to its right neighbour r + 1).
 * Throws {@linkcode HandshakeError} saying why the peer was refused (and
 * tells the peer).
 */
export function connectorHandshake(
  link: Link,
  p: HandshakeParams,
  acceptorRank: number,
): Promise<void> {
  return reporting(link, p, acceptorRank, () => connectorSide(link, p, acceptorRank));
}

/**
 * The accepting side (rank r accepting its left neighbour r − 1). Returns
 * once the connector has proven itself; throws {@linkcode HandshakeError}
 * saying why it was refused (and tells the connector).
 */
export function acceptorHandshake(
  link: Link,
  p: HandshakeParams,
  connectorRank: number,
): Promise<void> {
  return reporting(link, p, connectorRank, () => acceptorSide(link, p, connectorRank));
}

async function connectorSide(
  link: Link,
  p: HandshakeParams,
  acceptorRank: number,
): Promise<void> {
  const deadline = performance.now() + p.timeoutMs;
  const nc = nonce();
  await link.send(hello(p, nc, new Uint8Array(0)));
  const h = checkHello(await next(link, deadline, "hello", p), p, acceptorRank);
  const t = transcript(p, p.rank, acceptorRank, nc, h.nonce);
  if (p.secret) {
    const want = await hmac(p.secret, [encoder.encode("qoda-ring acceptor"), ...t]);
    if (!macEqual(h.mac, want)) {
      throw new HandshakeError(
        h.mac.length === 0
          ? `${nameOf(p, acceptorRank)} has no secret; this ring requires one`
          : `${nameOf(p, acceptorRank)} failed authentication (wrong secret)`,
      );
    }
    await link.send({
      type: "auth",
      mac: await hmac(p.secret, [encoder.encode("qoda-ring connector"), ...t]),
    });
  } else {
    if (h.mac.length !== 0) {
      throw new HandshakeError(`${nameOf(p, acceptorRank)} uses a secret; this side has none`);
    }
    await link.send({ type: "auth", mac: new Uint8Array(0) });
  }
}

async function acceptorSide(
  link: Link,
  p: HandshakeParams,
  connectorRank: number,
): Promise<void> {
  const deadline = performance.now() + p.timeoutMs;
  const h = checkHello(await next(link, deadline, "hello", p), p, connectorRank);
  const na = nonce();
  const t = transcript(p, connectorRank, p.rank, h.nonce, na);
  const mac = p.secret
    ? await hmac(p.secret, [encoder.encode("qoda-ring acceptor"), ...t])
    : new Uint8Array(0);
  await link.send(hello(p, na, mac));
  const a = await next(link, deadline, "auth", p);
  if (a.type !== "auth") throw new HandshakeError(`expected auth, got a '${a.type}' message`);
  if (p.secret) {
    const want = await hmac(p.secret, [encoder.encode("qoda-ring connector"), ...t]);
    if (!macEqual(a.mac, want)) {
      throw new HandshakeError(
        a.mac.length === 0
          ? `${nameOf(p, connectorRank)} sent no proof; this ring requires a secret`
          : `${nameOf(p, connectorRank)} failed authentication (wrong secret)`,
      );
    }
  } else if (a.mac.length !== 0) {
    throw new HandshakeError(`${nameOf(p, connectorRank)} uses a secret; this side has none`);
  }
}
