// Bodies that hold an upstream socket without moving. A request body that
// moves fewer than `minBytes` in a window of `stallMs` is cut (a trickle, a
// byte now and then, is a stall that resets a plain idle clock); a response
// the client stops reading (the gateway's writes wait on it for `stallMs`)
// is cut too, as nginx's client_body_timeout and send_timeout do. Either
// way the client's connection closes and http-proxy frees the upstream socket.
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface TransferLimits {
  stallMs: number;
  minBytes: number;
}

/** Watches a request body: `onCut` when a window passes with fewer than minBytes read, and the gateway was not the one waiting. */
export function watchUpload(req: IncomingMessage, limits: TransferLimits, onCut: () => void): void {
  if (req.complete) return;
  let seen = req.socket.bytesRead;
  const timer = setInterval(() => {
    if (req.complete || req.destroyed) return clearInterval(timer);
    const now = req.socket.bytesRead;
    // Paused by the gateway (the upstream reads slowly): not the client's stall.
    const waiting = req.readableFlowing === false || req.readableLength > 0;
    if (now - seen < limits.minBytes && !waiting) {
      clearInterval(timer);
      onCut();
    }
    seen = now;
  }, limits.stallMs);
  timer.unref();
  req.once('end', () => clearInterval(timer));
  req.once('close', () => clearInterval(timer));
}

/** Watches a response: `onCut` when its writes have waited on the client (no drain) for stallMs. */
export function watchDownload(res: ServerResponse, stallMs: number, onCut: () => void): void {
  let blockedSince: number | undefined;
  const tick = Math.max(100, Math.floor(stallMs / 4));
  const timer = setInterval(() => {
    if (res.writableFinished || res.destroyed) return clearInterval(timer);
    if (!res.writableNeedDrain) {
      blockedSince = undefined;
      return;
    }
    const now = Date.now();
    blockedSince ??= now;
    if (now - blockedSince >= stallMs) {
      clearInterval(timer);
      onCut();
    }
  }, tick);
  timer.unref();
  res.on('drain', () => (blockedSince = undefined));
  res.once('close', () => clearInterval(timer));
}

/**
 * A whole request body the gateway must read itself (a manifest it parses
 * before sending those bytes on): at most maxBytes, cut like any upload when it
 * stalls, or trickles; resolves with why not when too large or cut.
 */
export function readWhole(req: IncomingMessage, maxBytes: number, limits: TransferLimits): Promise<Buffer | 'too-large' | 'cut'> {
  return new Promise((resolve) => {
    if (Number(req.headers['content-length'] ?? 0) > maxBytes) return resolve('too-large');
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (result: Buffer | 'too-large' | 'cut') => {
      req.off('data', onData);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.pause();
        return done('too-large');
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => done(Buffer.concat(chunks)));
    req.once('error', () => done('cut'));
    req.once('close', () => {
      if (!req.complete) done('cut');
    });
    watchUpload(req, limits, () => {
      req.destroy();
      done('cut');
    });
  });
}
