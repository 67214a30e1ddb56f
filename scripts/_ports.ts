/**
 * Loopback ports that are free right now: listeners are opened on port 0 and
 * closed again. Another process could take one in between; for the tests and
 * benchmarks that start rank processes on loopback that race is acceptable.
 */
export function freeLoopbackPorts(n: number): number[] {
  const ls = Array.from({ length: n }, () => Deno.listen({ hostname: "127.0.0.1", port: 0 }));
  const ports = ls.map((l) => (l.addr as Deno.NetAddr).port);
  ls.forEach((l) => l.close());
  return ports;
}
