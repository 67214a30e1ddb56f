// Two TcpLinks joined over loopback: [the connecting side (peer rank 1), the accepting side
// (peer rank 0)], for tests of a single link.
import { TcpLink } from "../../../runtime/transport/tcp_link.ts";

/** A connected pair of links over a fresh loopback connection. */
export async function tcpLinkPair(): Promise<[TcpLink, TcpLink]> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const [server, client] = await Promise.all([
      listener.accept(),
      Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
    ]);
    return [new TcpLink(client, 1), new TcpLink(server, 0)];
  } finally {
    listener.close();
  }
}
