// Lingering close (RFC 9112 §9.6): a response sent before its request was read whole, such as a 413,
// is followed by a half-close, and the rest of the request is read and discarded before the connection
// closes. Closed at once, the unread bytes make the kernel reset the connection, and a client still
// sending (one that reads only once it has sent, say) loses the response to a broken pipe.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

const closing = new WeakSet<Socket>();

/**
 * Whether `socket` is closing after a response that said `connection: close`: a request pipelined
 * behind it must not be served (RFC 9112 §9.6), as Node's parser would, since its answer is never sent.
 */
export const isClosing = (socket: Socket): boolean => closing.has(socket);

export interface LingerLimits {
  /** Bytes of the request discarded at most; past them, once the response is out, the connection is cut. */
  bytes: number;
  /** Time given to the rest of the request once the response is out; then the connection is cut. */
  ms: number;
}

/**
 * Call before sending a response that closes the connection (`connection: close`) while `request` may
 * still be arriving. The rest of its body is read from now on and dropped as it comes (Node would
 * otherwise drop it unseen, uncounted). Node closes the connection once the response is written
 * (`socket.destroySoon`: end, then destroy when the writing is done); instead, the socket is ended
 * then, and destroyed once the request has ended or once `limits` are spent.
 */
export function lingerBeforeClose(request: IncomingMessage, limits: LingerLimits): void {
  const socket = request.socket;
  if (socket) closing.add(socket);
  if (request.readableEnded || typeof socket?.destroySoon !== 'function') return;
  const destroySoon = socket.destroySoon;
  let left = limits.bytes;
  let timer: NodeJS.Timeout | undefined;
  const finish = (cut: boolean) => {
    clearTimeout(timer);
    request.off('data', discard);
    request.off('end', ended);
    socket.off('close', ended);
    if (socket.destroyed) return;
    if (cut) socket.destroy();
    else destroySoon.call(socket);
  };
  const lingering = () => timer !== undefined;
  const discard = (chunk: Buffer) => {
    left -= chunk.length;
    if (left < 0 && lingering()) finish(true);
  };
  const ended = () => {
    if (lingering()) finish(false);
  };
  request.on('data', discard);
  request.once('end', ended);
  socket.once('close', ended);
  socket.destroySoon = () => {
    if (request.readableEnded) return finish(false);
    socket.end(); // the response, then FIN: the client knows that nothing more comes
    timer = setTimeout(() => finish(true), limits.ms);
    if (left < 0) finish(true);
  };
}
