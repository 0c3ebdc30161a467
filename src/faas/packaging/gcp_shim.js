'use strict';
// Blueprint FaaS: the index.js of a Google Cloud Functions (2nd gen) package.
//
// C++ is not a Cloud Functions runtime, so the package is a Node.js source for
// the Functions Framework that carries the function's native `bootstrap`.
// This shim registers the HTTP function `blueprint`; once per instance it
// starts ./bootstrap in HTTP mode (PORT, HOST=127.0.0.1) on a private loopback
// port, waits for GET /health, and then forwards every request to it: method,
// path and query, headers and the raw body, and passes back status, headers
// and body.
//
// - The first request an instance serves gets `X-Blueprint-Cold-Start: 1`
//   (the cold-start marker); later ones carry no such header.
// - A dead or unreachable bootstrap turns into 503
//   {"error", "code", "details"} (the custom platform API's error shape).
// - The child's stdout/stderr are the instance's, so its logs reach Cloud Logging.
//
// Settings (environment, all optional):
//   BLUEPRINT_BOOTSTRAP_PORT              fixed private port (default: a free one)
//   BLUEPRINT_BOOTSTRAP_READY_TIMEOUT_MS  how long to wait for /health (10000)
//
// Only Node built-ins besides the framework. Generated into every GCP package
// by blueprint-faas (src/faas/packaging/gcp_shim.js).

const functions = require('@google-cloud/functions-framework');
const childProcess = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = Number(process.env.BLUEPRINT_BOOTSTRAP_READY_TIMEOUT_MS) || 10000;
const FIXED_PORT = Number(process.env.BLUEPRINT_BOOTSTRAP_PORT) || 0;
const COLD_START_HEADER = 'x-blueprint-cold-start';

// Hop-by-hop headers (RFC 9110 §7.6.1) are never forwarded; lengths and
// encodings are recomputed for the body actually sent.
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect',
]);

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

let child = null;        // the bootstrap ChildProcess
let childExit = null;    // why it is gone: a string, once it has exited or failed to start
let ready = null;        // Promise of the port of a healthy bootstrap; settles once
let coldStartServed = false;
let exited;              // resolves when the bootstrap has exited
const exitedPromise = new Promise((resolve) => { exited = resolve; });

class BootstrapError extends Error {
  constructor(code, error, details) {
    super(details);
    this.code = code;
    this.error = error;
  }
}

function log(message) {
  console.log(`blueprint-shim: ${message}`);
}

// Cloud Build may not keep the zip's 0755; fall back to chmod, then to a
// copy in the temp dir when the source folder is read-only.
function executablePath() {
  const original = path.join(__dirname, 'bootstrap');
  try {
    fs.accessSync(original, fs.constants.X_OK);
    return original;
  } catch {}
  try {
    fs.chmodSync(original, 0o755);
    return original;
  } catch {}
  const copy = path.join(os.tmpdir(), `blueprint-bootstrap-${process.pid}`);
  fs.copyFileSync(original, copy);
  fs.chmodSync(copy, 0o755);
  return copy;
}

// A free loopback port: listen on 0, read it, close. The bootstrap binds it
// right after; if something else wins that race the bootstrap exits and
// requests get 503 bootstrap_exited, which says so.
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function healthy(port) {
  return new Promise((resolve) => {
    const req = http.get({ host: HOST, port, path: '/health', timeout: 1000, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function startBootstrap() {
  const port = FIXED_PORT || (await freePort());
  const env = { ...process.env, PORT: String(port), HOST };
  // The runtime picks its mode from the environment: make sure it is HTTP.
  delete env.AWS_LAMBDA_RUNTIME_API;
  delete env.FUNCTIONS_CUSTOMHANDLER_PORT;
  const file = executablePath();
  child = childProcess.spawn(file, [], { cwd: __dirname, env, stdio: ['ignore', 'inherit', 'inherit'] });
  child.on('error', (err) => {
    childExit = childExit || `bootstrap could not be started: ${err.message}`;
    log(childExit);
    exited();
  });
  child.on('exit', (code, signal) => {
    childExit = `bootstrap (pid ${child.pid}) exited with ${signal ? `signal ${signal}` : `code ${code}`}`;
    log(childExit);
    exited();
  });
  log(`started bootstrap pid=${child.pid} port=${port}`);

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (childExit) throw new BootstrapError('bootstrap_exited', 'function process exited', childExit);
    if (await healthy(port)) {
      log(`bootstrap pid=${child.pid} is ready on ${HOST}:${port}`);
      return port;
    }
    if (Date.now() >= deadline) {
      child.kill('SIGKILL');
      throw new BootstrapError('bootstrap_not_ready', 'function process not ready',
        `bootstrap did not answer GET /health on ${HOST}:${port} within ${READY_TIMEOUT_MS} ms`);
    }
    await sleep(25);
  }
}

// The platform stops instances with SIGTERM; the framework then exits, and
// the bootstrap must not outlive it.
process.on('exit', () => {
  if (child && !childExit) child.kill('SIGTERM');
});

function ensureReady() {
  if (!ready) {
    ready = startBootstrap();
    ready.catch(() => {});  // reported per request
  }
  return ready;
}

function sendError(res, status, err, cold) {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ error: err.error, code: err.code, details: err.message });
  const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
  if (cold) headers[COLD_START_HEADER] = '1';
  res.writeHead(status, headers);
  res.end(body);
}

function unavailable(cause) {
  if (childExit) return new BootstrapError('bootstrap_exited', 'function process exited', childExit);
  return new BootstrapError('bootstrap_unreachable', 'function process unreachable',
    `bootstrap did not answer: ${cause.message}`);
}

// The framework's body parsers have already read the body; they keep the
// bytes as received (after Content-Encoding) in req.rawBody. A request no
// parser took is still unread: collect it as it is.
function requestBody(req) {
  if (Buffer.isBuffer(req.rawBody)) return Promise.resolve({ body: req.rawBody, decoded: true });
  if (req.readableEnded) return Promise.resolve({ body: Buffer.alloc(0), decoded: true });
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve({ body: Buffer.concat(chunks), decoded: false }));
    req.on('error', reject);
  });
}

async function forward(req, res) {
  const cold = !coldStartServed;
  coldStartServed = true;

  let port;
  try {
    port = await ensureReady();
  } catch (err) {
    sendError(res, 503, err instanceof BootstrapError ? err : unavailable(err), cold);
    return;
  }
  if (childExit) {
    sendError(res, 503, unavailable(new Error('gone')), cold);
    return;
  }

  let body;
  let decoded;
  try {
    ({ body, decoded } = await requestBody(req));
  } catch (err) {
    res.destroy();
    return;
  }

  const headers = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (HOP_BY_HOP.has(name) || name === 'host' || name === 'content-length') continue;
    if (decoded && name === 'content-encoding') continue;
    headers[name] = value;
  }
  headers.host = `${HOST}:${port}`;
  headers['content-length'] = String(body.length);

  const upstream = http.request(
    { host: HOST, port, method: req.method, path: req.originalUrl || req.url, headers, agent },
    (reply) => {
      const out = {};
      for (const [name, value] of Object.entries(reply.headers)) {
        if (HOP_BY_HOP.has(name) || name === COLD_START_HEADER) continue;
        out[name] = value;
      }
      if (cold) out[COLD_START_HEADER] = '1';
      res.writeHead(reply.statusCode, out);
      reply.on('error', () => res.destroy());
      reply.on('aborted', () => res.destroy());
      reply.pipe(res);
    });
  upstream.on('error', async (err) => {
    // A refused or reset connection often arrives just before the exit
    // event of a dying bootstrap: give that a moment so the reply says why.
    if (!childExit) await Promise.race([exitedPromise, sleep(250)]);
    sendError(res, 503, unavailable(err), cold);
  });
  // A client that went away takes its upstream request with it.
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
  upstream.end(body);
}

functions.http('blueprint', (req, res) => {
  forward(req, res).catch((err) => sendError(res, 503, unavailable(err), false));
});

// Start at instance start-up rather than on the first request: the cold start
// still shows on that request, but is shorter.
ensureReady();
