// A client that sends requests and never reads the answers (pipelined, say) would hold its connection
// for good: its response waits for the socket, so the connection is neither idle (the keep-alive timeout)
// nor still receiving a request (requestTimeoutMs), and a capped server never closes it to let others in.
// Such a connection is closed once nothing it was sent has been taken for `ms` (nginx's send_timeout,
// 60 s by default). A request whose handler works a long while, writing nothing yet, is not cut.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

export function closeUnreadConnections(server: Server, ms: number): void {
  // Node calls this after `ms` without bytes moving either way; a listener keeps it from closing the socket.
  server.setTimeout(ms, (socket: Socket) => {
    if (socket.writableLength > 0) socket.destroy();
  });
}
