// The drain on a real HTTP server: its phases in order, still serving during
// the delay, refusing connections after it, an idle keep-alive connection
// closed at once, a slow request in flight finished, and one that outlives
// the grace period cut on time; a second stop signal cuts at once, and which
// signals count as a second one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { drain, drainableServer, type DrainPhase } from '../../src/server/drain.js';
import { exitStatusFor, REPEAT_AFTER_MS, stopSignalHandler } from '../../src/server/stopSignals.js';

const lines: Record<string, unknown>[] = [];
const log = pino({ level: 'info' }, new Writable({
  write: (c, _e, cb) => {
    lines.push(JSON.parse(String(c)));
    cb();
  },
}));

/** A server whose POST reads its whole body before answering 201; GET answers at once. */
async function start() {
  let requests = 0;
  let draining = false;
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    requests++;
    res.once('close', () => requests--);
    if (draining) res.shouldKeepAlive = false;
    let size = 0;
    req.on('data', (c: Buffer) => (size += c.length));
    req.on('end', () => res.writeHead(req.method === 'POST' ? 201 : 200).end(String(size)));
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const target = drainableServer(server, { startDrain: () => void (draining = true), sockets, requests: () => requests });
  return { server, port, target, isDraining: () => draining };
}

const refused = (port: number) => new Promise<boolean>((resolve) => {
  const s = connect(port, '127.0.0.1', () => {
    s.destroy();
    resolve(false);
  });
  s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
});

function get(port: number, agent: http.Agent | false = false) {
  return new Promise<{ status: number; connection: string | undefined; socket: Socket }>((resolve, reject) => {
    let socket: Socket | undefined;
    http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection, socket: socket! }));
    }).on('socket', (s: Socket) => (socket = s)).on('error', reject);
  });
}

/** A POST whose body trickles in `chunks` pieces, `everyMs` apart. */
function slowPost(port: number, chunks: number, everyMs: number) {
  return new Promise<{ status: number; body: string } | { error: string }>((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/upload', method: 'POST', agent: false, headers: { 'content-length': chunks * 1024 } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
      res.on('error', (err) => resolve({ error: err.message }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    let sent = 0;
    const timer = setInterval(() => {
      if (req.destroyed) return clearInterval(timer);
      req.write(Buffer.alloc(1024));
      if (++sent === chunks) {
        clearInterval(timer);
        req.end();
      }
    }, everyMs);
  });
}

test('drain: delay still serves, then new connections are refused, idle ones closed, the slow upload completes', async () => {
  const { server, port, target, isDraining } = await start();
  const agent = new http.Agent({ keepAlive: true });
  let t0 = Date.now();
  try {
    const idle = await get(port, agent);
    assert.equal(idle.status, 200, 'a keep-alive connection, idle from now on');
    let idleClosedAt = 0;
    idle.socket.once('close', () => (idleClosedAt = Date.now() - t0));
    const upload = slowPost(port, 20, 100); // 2 s of upload
    await new Promise((r) => setTimeout(r, 200));
    const phases: [DrainPhase, number][] = [];
    t0 = Date.now();
    lines.length = 0;
    const done = drain(target, { delayMs: 600, graceMs: 10_000 }, log, (p) => phases.push([p, Date.now() - t0]));
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(isDraining(), 'readiness fails at once');
    const during = await get(port);
    assert.equal(during.status, 200, 'during the delay a new client is still served');
    assert.equal(during.connection, 'close', 'told to reconnect (elsewhere)');
    assert.equal(idleClosedAt, 0, 'an idle connection stays open during the delay');
    assert.equal(await refused(port), false, 'still accepting during the delay');
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(await refused(port), true, 'after the delay: connection refused');
    assert.ok(idleClosedAt >= 590, `the idle keep-alive connection was closed after the delay (${idleClosedAt} ms)`);
    const result = await upload;
    assert.deepEqual(result, { status: 201, body: String(20 * 1024) }, 'the upload in flight completed');
    assert.deepEqual(await done, { cut: 0, atOnce: false });
    assert.deepEqual(phases.map(([p]) => p), ['delay', 'grace', 'closed']);
    assert.ok(phases[1]![1] >= 590, `stops accepting after the delay (${phases[1]![1]} ms)`);
    assert.ok(phases[2]![1] < 3000, `closes as soon as the upload is done (${phases[2]![1]} ms)`);
    const draining = lines.find((l) => l.msg === 'draining');
    assert.equal(draining?.requests, 1, 'the log says what is in flight');
    assert.ok(Number(draining?.connections) >= 2);
  } finally {
    agent.destroy();
    server.closeAllConnections();
    server.close();
  }
});

test('drain: a request that outlives the grace period is cut, and the drain ends on time', async () => {
  const { server, port, target } = await start();
  try {
    const upload = slowPost(port, 100, 100); // 10 s: longer than the grace
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    lines.length = 0;
    const phases: DrainPhase[] = [];
    assert.deepEqual(await drain(target, { delayMs: 0, graceMs: 800 }, log, (p) => phases.push(p)), { cut: 1, atOnce: false });
    const took = Date.now() - t0;
    assert.ok(took >= 790 && took < 2000, `ended at the grace period (${took} ms)`);
    assert.deepEqual(phases, ['delay', 'grace', 'cut', 'closed']);
    assert.ok('error' in (await upload), 'the client sees its request cut');
    assert.ok(lines.some((l) => l.msg === 'shutdown.grace is over: closing the connections still open' && l.requests === 1));
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test('drain: aborted (a second stop signal) during the grace period, what is in flight is cut at once and counted', async () => {
  const { server, port, target } = await start();
  try {
    const upload = slowPost(port, 600, 100); // 60 s
    await new Promise((r) => setTimeout(r, 200));
    lines.length = 0;
    const phases: DrainPhase[] = [];
    const now = new AbortController();
    // A grace far longer than the test: only the abort can end the drain in time.
    const done = drain(target, { delayMs: 0, graceMs: 600_000, now: now.signal }, log, (p) => phases.push(p));
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(phases, ['delay', 'grace'], 'still draining');
    now.abort('SIGINT');
    assert.deepEqual(await done, { cut: 1, atOnce: true });
    assert.deepEqual(phases, ['delay', 'grace', 'cut', 'closed']);
    assert.ok('error' in (await upload), 'the client sees its request cut');
    assert.ok(lines.some((l) => l.msg === 'second stop signal: stopping at once, cutting the transfers in flight' &&
      l.requests === 1 && l.signal === 'SIGINT'), JSON.stringify(lines));
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test('drain: aborted during the delay, nothing waits for the delay or the grace', async () => {
  const { server, target } = await start();
  try {
    const now = new AbortController();
    const done = drain(target, { delayMs: 600_000, graceMs: 600_000, now: now.signal }, log);
    await new Promise((r) => setTimeout(r, 100));
    now.abort('SIGTERM');
    assert.deepEqual(await done, { cut: 0, atOnce: true });
  } finally {
    server.close();
  }
});

test('stop signals: the first drains; repeats within a second, or a SIGINT once the parent is gone, are the same stop; a later one stops at once', () => {
  let clock = 0;
  let parent = 100;
  const seen: string[] = [];
  const handle = stopSignalHandler({
    first: (s) => seen.push(`first ${s}`), again: (s) => seen.push(`again ${s}`), now: () => clock, parent: () => parent,
  });
  handle('SIGINT');
  clock = REPEAT_AFTER_MS - 1;
  handle('SIGINT'); // npm passing Ctrl-C on, or the group's
  handle('SIGTERM');
  assert.deepEqual(seen, ['first SIGINT']);
  clock = 60_000;
  parent = 1;
  handle('SIGINT'); // setpriv --pdeathsig: npm is gone
  assert.deepEqual(seen, ['first SIGINT']);
  handle('SIGTERM'); // an operator's kill, then
  handle('SIGINT');
  assert.deepEqual(seen, ['first SIGINT', 'again SIGTERM'], 'once');
  const second: string[] = [];
  const other = stopSignalHandler({ first: (s) => second.push(s), again: (s) => second.push(`again ${s}`), now: () => clock, parent: () => 7 });
  other('SIGTERM');
  clock += REPEAT_AFTER_MS;
  other('SIGINT');
  assert.deepEqual(second, ['SIGTERM', 'again SIGINT']);
  assert.deepEqual([exitStatusFor('SIGINT'), exitStatusFor('SIGTERM')], [130, 143]);
});
