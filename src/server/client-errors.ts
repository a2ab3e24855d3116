/**
 * Node's own refusals of a connection's request (a malformed request line,
 * headers too large, a request too slow), answered as `{error, code}` like
 * every other error, after the answers still owed on that connection.
 */

import type { Socket } from 'node:net';
import type { ServerResponse } from 'node:http';

/** A refusal Node made, for the metrics and the log. */
export interface ClientRefusal {
  status: number;
  code?: string;
  error?: string;
  /** The routed request refused (its body too slow), whose route counts and logs it when its response closes; absent before routing. */
  routed?: ServerResponse;
}

/**
 * Node's own refusals (malformed request line, headers too large, too slow),
 * as `{error, code}` like every other error; `counted` tells the metrics.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Socket, counted: (refusal: ClientRefusal) => void): void {
  // The client went away mid-request (a camera's network dropped, a client's timeout): nobody to answer; counted as nginx does, 499.
  const gone = err.code === 'ECONNRESET' || err.code === 'HPE_INVALID_EOF_STATE';
  if (gone || !socket.writable) {
    // Gone with a request already routed (mid-body): counted once, under its route, when its response closes unsent.
    const routed = (socket as Socket & { _httpMessage?: unknown })._httpMessage != null;
    if (gone && !routed) counted({ status: 499 });
    socket.destroy();
    return;
  }
  const [status, code, message]: [number, string, string] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'HEADERS_TOO_LARGE', 'The request headers are too large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'REQUEST_TIMEOUT', 'The request was not received in time']
        : err.code === 'HPE_INVALID_URL'
          ? [400, 'BAD_REQUEST', invalidUrlMessage((err as NodeJS.ErrnoException & { rawPacket?: Buffer }).rawPacket)]
          : [400, 'BAD_REQUEST', 'The request is not valid HTTP'];
  const body = JSON.stringify({ error: message, code });
  // A request whose body was too slow has been routed already: it is the response still owed whose request never completed.
  const owed = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  const refused = owed && !owed.req?.complete ? owed : undefined;
  counted({ status, code, error: message, ...(refused ? { routed: refused } : {}) });
  const reason = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' }[status];
  // After the answers to the requests before it on this connection (pipelined), then the connection is closed for good
  // (ending only our side would keep the descriptor until the client closes).
  afterPendingResponses(socket, () => {
    if (socket.destroyed) return;
    // The refused request's id (a sane token, app.ts), as every other answer carries it.
    const id = refused?.getHeader('x-request-id');
    const idLine = typeof id === 'string' ? `X-Request-Id: ${id}\r\n` : '';
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${idLine}Connection: close\r\n\r\n${body}`, () => socket.destroy());
    setTimeout(() => socket.destroy(), 1000).unref();
  });
}

/** How long a refused connection waits for the answers still owed on it (every request has its own deadline before this). */
const PENDING_RESPONSES_MS = 120_000;

/**
 * Calls `then` once every response still owed on the connection has been
 * written: Node hands each pipelined request's response the socket in turn
 * (`_httpMessage`), so this waits for the current one to finish and looks
 * again, until none is left (or only one whose request is still arriving),
 * the socket is gone, or a bound passes.
 */
function afterPendingResponses(socket: Socket, then: () => void, until = Date.now() + PENDING_RESPONSES_MS): void {
  const pending = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  // Owed only for a request received whole: one still arriving is the request refused (too slow), answered now.
  if (!pending || !pending.req?.complete || pending.writableFinished || socket.destroyed || Date.now() > until) {
    then();
    return;
  }
  let looked = false;
  const lookAgain = (): void => {
    if (looked) return;
    looked = true;
    clearTimeout(timer);
    setImmediate(() => afterPendingResponses(socket, then, until));
  };
  const timer = setTimeout(lookAgain, until - Date.now()).unref();
  pending.once('finish', lookAgain).once('close', lookAgain);
}

/**
 * What is wrong with a request line Node refused as an invalid URL, from the
 * bytes it received: the URL as sent, the same percent-encoded, and for a
 * query parameter the curl option that encodes it.
 */
export function invalidUrlMessage(rawPacket: Buffer | undefined): string {
  const line = (rawPacket ?? Buffer.alloc(0)).toString('utf8').split('\r\n')[0];
  const target = /^[A-Z]+ (.*?)(?: HTTP\/\d\.\d)?$/.exec(line)?.[1];
  const general = 'The URL is not valid: characters outside ASCII and spaces must be percent-encoded';
  if (!target || !/[^\x21-\x7e]/.test(target)) return `${general}.`;
  const shown = target.length > 200 ? `${target.slice(0, 200)}…` : target;
  const encoded = shown.replace(/[^\x21-\x7e]/gu, (c) => encodeURIComponent(c));
  const param = target.split('?')[1]?.split('&').find((p) => /[^\x21-\x7e]/.test(p));
  const curl = param ? `; curl --url-query "${param}" does it, beside -F` : '';
  return `${general}: send ${encoded} for ${shown}${curl}`;
}
