// Lingering close (nginx's `lingering_close`, https://nginx.org/r/lingering_close). When Rampart answers
// before it has read the request body (413, 429, 403, 404, ...), the client is usually still sending.
// Closing at once makes the kernel answer those bytes with a reset, and a reset discards the answer the
// client has not read yet: the user sees "connection reset" instead of "body too large". So the answer
// goes out with `Connection: close`, the rest of the body is read and thrown away, the write side is
// closed (FIN) once the answer is flushed, and the socket is destroyed when the client is done or the
// bounds (lingerTime, lingerBytes) are reached, whichever comes first.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import type { Socket } from "node:net";

export interface LingerLimits {
  readonly lingerTime: number;
  readonly lingerBytes: number;
}

export type LingerOutcome = "drained" | "time_limit" | "byte_limit";

/** True while a request's body is still arriving: answering now leaves unread bytes on the wire. */
export function bodyUnread(req: IncomingMessage | Http2ServerRequest): boolean {
  return !req.complete && declaresBody(req);
}

/**
 * Whether the request has a body at all, by its framing (RFC 9112 §6.3), whether or not it has arrived:
 * what forwarding and retrying ask. `complete` cannot tell: Node sets it once the parser has read the
 * body, before anyone consumed it (a small body behind a stage that waited is complete and unread).
 */
export function declaresBody(req: IncomingMessage | Http2ServerRequest): boolean {
  // An HTTP/2 request without a body ends its stream with its HEADERS frame; length headers are optional.
  // (Told apart by its stream: Node's HTTP/1 parser also reports version 2 for an "HTTP/2.0" request line.)
  if ("stream" in req) return !req.stream.endAfterHeaders;
  const headers = req.headers;
  const length = headers["content-length"];
  return headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0");
}

/** The client abandoned the request (closed the connection, or reset its HTTP/2 stream). */
export function requestGone(req: IncomingMessage | Http2ServerRequest): boolean {
  // A reset HTTP/2 stream leaves its compat request looking complete; its stream says what happened.
  return "stream" in req ? req.stream.aborted : req.destroyed;
}

export class Linger {
  readonly #limits: () => LingerLimits;
  readonly #onOutcome: (outcome: LingerOutcome) => void;

  constructor(limits: () => LingerLimits, onOutcome: (outcome: LingerOutcome) => void) {
    this.#limits = limits;
    this.#onOutcome = onOutcome;
  }

  /**
   * Call before ending an early answer whose request body is unread. The response becomes the
   * connection's last; what follows it on the wire is discarded within the bounds.
   */
  afterAnswer(req: IncomingMessage, res: ServerResponse): void {
    // Node then writes Connection: close and ends the socket after this answer.
    res.shouldKeepAlive = false;
    const socket = req.socket;
    const { lingerTime, lingerBytes } = this.#limits();
    let outcome: LingerOutcome | undefined;
    const finish = (result: LingerOutcome) => {
      if (outcome !== undefined) return;
      outcome = result;
      this.#onOutcome(result);
    };
    let received = 0;
    req.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received > lingerBytes) {
        finish("byte_limit");
        socket.destroy();
      }
    });
    req.resume();
    // Node ends a last response's socket with destroySoon(): FIN, then destroy as soon as it is
    // flushed, which resets a peer that is still sending. Here the FIN goes out and reading goes on.
    socket.destroySoon = function lingeringClose(this: Socket) {
      if (this.writable) this.end();
      const timer = setTimeout(() => {
        finish("time_limit");
        this.destroy();
      }, lingerTime);
      this.once("close", () => {
        clearTimeout(timer);
        finish("drained");
      });
    };
  }
}
