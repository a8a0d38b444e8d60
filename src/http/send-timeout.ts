// A client that sends requests and never reads the answers (pipelined, say) would hold its connection
// for good: its response waits for the socket, so the connection is neither idle (the keep-alive timeout)
// nor still receiving a request (requestTimeoutMs), and a capped server never closes it to let others in.
// Such a connection is closed once nothing it was sent has been taken for `ms` (nginx's send_timeout,
// 60 s by default). A request whose handler works a long while, writing nothing yet, is not cut.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** Whether a request on `socket` is in progress (Node's own note of the response it is writing). */
const busy = (socket: Socket): boolean =>
  (socket as Socket & { _httpMessage?: unknown })._httpMessage != null;

export function closeUnreadConnections(server: Server, ms: number): void {
  // Node calls this after `ms` without bytes moving either way; a listener keeps it from closing the socket.
  server.setTimeout(ms, (socket: Socket) => {
    // Nothing waiting to be written: an idle keep-alive connection (Node times those out this way too,
    // closing them only when no listener is here), or a handler still working (left alone).
    if (socket.writableLength > 0 || !busy(socket)) socket.destroy();
  });
}
