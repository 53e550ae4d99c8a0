#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// A test Istio CA: the gRPC unary call
// istio.v1.auth.IstioCertificateService/CreateCertificate on Node.js's
// built-in http2 module (no npm packages: gRPC framing and the two protobuf
// messages are done by hand), signing with the real `openssl x509 -req`.
//
// node tests/ca-server.js --port N --cert server-cert.pem --key server-key.pem
//     --ca-cert ca.pem --ca-key ca-key.pem --token TOKEN
//     [--mode ok|unauth|wrongchain|otherkey|unavailable-once] [--log FILE] [--ready FILE]
//
// Listens on 127.0.0.1:N (0: any free port; --ready FILE gets the port once
// listening).  Modes:
//   ok                signs the CSR: cert_chain = [leaf, CA]
//   unauth            every call: UNAUTHENTICATED "token rejected"
//   wrongchain        signs with a different CA made at start-up
//   otherkey          the leaf carries the CSR's names but another key
//   unavailable-once  the first call: UNAVAILABLE, then as ok
// A wrong or missing token is always UNAUTHENTICATED.  --log gets one line
// per call: time, mode, whether the token matched (never the token), the
// CSR's subjectAltName, the gRPC status.  SIGTERM/SIGINT end it.
'use strict';

const http2 = require('http2');
const fs = require('fs');
const os = require('os');
const path = require('path');
const crypto = require('crypto');
const { execFileSync } = require('child_process');

const PATH = '/istio.v1.auth.IstioCertificateService/CreateCertificate';
const MAX_BODY = 1 << 20;
const MODES = ['ok', 'unauth', 'wrongchain', 'otherkey', 'unavailable-once'];
const STATUS = { OK: 0, INVALID_ARGUMENT: 3, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, UNAUTHENTICATED: 16 };

function usage(msg) {
  process.stderr.write(`ca-server: ${msg}\n`);
  process.exit(64);
}

function parseArgs(argv) {
  const o = { mode: 'ok' };
  const keys = ['port', 'cert', 'key', 'ca-cert', 'ca-key', 'token', 'mode', 'log', 'ready'];
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    if (!argv[i].startsWith('--') || !keys.includes(k) || i + 1 >= argv.length) usage(`bad argument ${argv[i]}`);
    o[k] = argv[i + 1];
  }
  for (const k of ['port', 'cert', 'key', 'ca-cert', 'ca-key', 'token'])
    if (o[k] === undefined) usage(`--${k} is required`);
  if (!MODES.includes(o.mode)) usage(`unknown mode ${o.mode}`);
  if (!/^\d+$/.test(o.port) || Number(o.port) > 65535) usage('bad --port');
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const caCert = withNewline(fs.readFileSync(opts['ca-cert'], 'utf8'));
let calls = 0;

function withNewline(s) {
  return s.endsWith('\n') ? s : s + '\n';
}

function log(line) {
  if (opts.log) fs.appendFileSync(opts.log, `${new Date().toISOString()} ${line}\n`);
}

function openssl(args) {
  return execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
}

function tmpdir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'ca-server-'));
}

// ---- protobuf and gRPC framing ----

function varintEncode(n) {
  let v = BigInt.asUintN(64, BigInt(n));
  const out = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}

function varintDecode(buf, pos) {
  let v = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos + i >= buf.length) throw new Error('truncated varint');
    const b = buf[pos + i];
    v |= BigInt(b & 0x7f) << BigInt(7 * i);
    if (!(b & 0x80)) return [BigInt.asIntN(64, v), pos + i + 1];
  }
  throw new Error('varint too long');
}

// IstioCertificateRequest { string csr = 1; string subject_id = 2 (unused);
// int64 validity_duration = 3; Struct metadata = 4 }: unknown fields skipped.
function requestDecode(msg) {
  const req = { csr: '', validity: 0n };
  let pos = 0;
  while (pos < msg.length) {
    let key;
    [key, pos] = varintDecode(msg, pos);
    const field = Number(key >> 3n), wt = Number(key & 7n);
    if (wt === 0) {
      let v;
      [v, pos] = varintDecode(msg, pos);
      if (field === 3) req.validity = v;
    } else if (wt === 2) {
      let n;
      [n, pos] = varintDecode(msg, pos);
      if (n < 0n || pos + Number(n) > msg.length) throw new Error('truncated field');
      if (field === 1) req.csr = msg.subarray(pos, pos + Number(n)).toString('utf8');
      pos += Number(n);
    } else if (wt === 1 || wt === 5) {
      pos += wt === 1 ? 8 : 4;
      if (pos > msg.length) throw new Error('truncated field');
    } else {
      throw new Error(`wire type ${wt}`);
    }
  }
  return req;
}

// IstioCertificateResponse { repeated string cert_chain = 1; } in one frame.
function responseEncode(chain) {
  const parts = [];
  for (const pem of chain) {
    const b = Buffer.from(pem, 'utf8');
    parts.push(Buffer.from([0x0a]), varintEncode(b.length), b);
  }
  const msg = Buffer.concat(parts);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}

function frameUnwrap(body) {
  if (body.length < 5) throw new Error('truncated frame');
  if (body[0] !== 0) throw new Error('compressed or unknown frame flags');
  const n = body.readUInt32BE(1);
  if (body.length !== 5 + n) throw new Error('frame length mismatch');
  return body.subarray(5);
}

function grpcMessageEncode(s) {
  return s.replace(/[^\x20-\x24\x26-\x7e]/g, (c) =>
    [...Buffer.from(c, 'utf8')].map((b) => '%' + b.toString(16).toUpperCase().padStart(2, '0')).join(''));
}

// ---- signing ----

const EXT = [
  'basicConstraints=critical,CA:FALSE',
  'keyUsage=critical,digitalSignature,keyEncipherment',
  'extendedKeyUsage=serverAuth,clientAuth',
  'subjectKeyIdentifier=hash',
  'authorityKeyIdentifier=keyid:always',
  '',
].join('\n');

// A CA of our own for the wrongchain mode: same shape, other key.
function otherCaMake() {
  const dir = tmpdir();
  try {
    const cert = path.join(dir, 'ca.pem'), key = path.join(dir, 'ca-key.pem');
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key,
      '-out', cert, '-days', '30', '-subj', '/O=cluster.local/CN=ca-server other CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    return { cert: fs.readFileSync(cert, 'utf8'), key: fs.readFileSync(key, 'utf8') };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const otherCa = opts.mode === 'wrongchain' ? otherCaMake() : null;

// The CSR's subjectAltName as `openssl req -text` prints it (for the log);
// throws when the CSR's self-signature does not verify.
function csrSan(file) {
  const text = openssl(['req', '-in', file, '-noout', '-verify', '-text']);
  const m = /X509v3 Subject Alternative Name:[^\n]*\n\s*([^\n]*)/.exec(text);
  return m ? m[1].trim() : '';
}

// Sign the CSR; returns [leaf PEM, CA PEM].
function sign(csr, validity) {
  const dir = tmpdir();
  try {
    const f = (n) => path.join(dir, n);
    fs.writeFileSync(f('csr.pem'), csr);
    fs.writeFileSync(f('ext.cnf'), EXT);
    const san = csrSan(f('csr.pem'));
    let ca = { certFile: opts['ca-cert'], keyFile: opts['ca-key'], pem: caCert };
    if (otherCa) {
      fs.writeFileSync(f('oca.pem'), otherCa.cert);
      fs.writeFileSync(f('oca-key.pem'), otherCa.key, { mode: 0o600 });
      ca = { certFile: f('oca.pem'), keyFile: f('oca-key.pem'), pem: withNewline(otherCa.cert) };
    }
    const days = validity > 0n ? String((validity + 86399n) / 86400n) : '1';
    const args = ['x509', '-req', '-in', f('csr.pem'), '-CA', ca.certFile, '-CAkey', ca.keyFile,
      '-set_serial', '0x' + crypto.randomBytes(16).toString('hex'),
      '-days', days, '-sha256', '-copy_extensions', 'copyall', '-extfile', f('ext.cnf'), '-out', f('leaf.pem')];
    if (opts.mode === 'otherkey') {
      openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f('other-key.pem')]);
      openssl(['pkey', '-in', f('other-key.pem'), '-pubout', '-out', f('other-pub.pem')]);
      args.push('-force_pubkey', f('other-pub.pem'));
    }
    openssl(args);
    return { san, chain: [withNewline(fs.readFileSync(f('leaf.pem'), 'utf8')), ca.pem] };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---- the service ----

function tokenMatches(header) {
  const want = Buffer.from('Bearer ' + opts.token);
  const got = Buffer.from(header || '');
  return got.length === want.length && crypto.timingSafeEqual(got, want);
}

// Trailers-only answer: an error status.
function fail(stream, status, message) {
  if (stream.destroyed || stream.headersSent) return;
  stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(status),
    'grpc-message': grpcMessageEncode(message) }, { endStream: true });
}

function answer(stream, chain) {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
  stream.end(responseEncode(chain));
}

function handle(stream, headers, body) {
  const call = ++calls;
  const hasToken = headers.authorization !== undefined;
  const matched = tokenMatches(headers.authorization);
  const record = (status, san) =>
    log(`call=${call} mode=${opts.mode} token=${matched ? 'match' : hasToken ? 'mismatch' : 'none'} ` +
        `san=${JSON.stringify(san || '')} grpc-status=${status}`);
  if (opts.mode === 'unavailable-once' && call === 1) {
    record(STATUS.UNAVAILABLE);
    return fail(stream, STATUS.UNAVAILABLE, 'CA warming up, try again');
  }
  if (opts.mode === 'unauth' || !matched) {
    record(STATUS.UNAUTHENTICATED);
    return fail(stream, STATUS.UNAUTHENTICATED, 'token rejected');
  }
  let req;
  try {
    req = requestDecode(frameUnwrap(body));
  } catch (e) {
    record(STATUS.INVALID_ARGUMENT);
    return fail(stream, STATUS.INVALID_ARGUMENT, `bad request message: ${e.message}`);
  }
  if (!req.csr.includes('-----BEGIN CERTIFICATE REQUEST-----')) {
    record(STATUS.INVALID_ARGUMENT);
    return fail(stream, STATUS.INVALID_ARGUMENT, 'no CSR in the request');
  }
  let signed;
  try {
    signed = sign(req.csr, req.validity);
  } catch (e) {
    const why = (e.stderr || e.message || '').toString().split('\n')[0];
    record(STATUS.INVALID_ARGUMENT);
    return fail(stream, STATUS.INVALID_ARGUMENT, `cannot sign the CSR: ${why}`);
  }
  record(STATUS.OK, signed.san);
  answer(stream, signed.chain);
}

const server = http2.createSecureServer({
  cert: fs.readFileSync(opts.cert),
  key: fs.readFileSync(opts.key),
  allowHTTP1: false,
  minVersion: 'TLSv1.2',
});

server.on('stream', (stream, headers) => {
  stream.on('error', () => {});
  if (headers[':method'] !== 'POST' || headers[':path'] !== PATH) {
    log(`call=- path=${JSON.stringify(String(headers[':path']))} grpc-status=${STATUS.UNIMPLEMENTED}`);
    return fail(stream, STATUS.UNIMPLEMENTED, 'unknown method');
  }
  if (!String(headers['content-type'] || '').startsWith('application/grpc')) {
    stream.respond({ ':status': 415 }, { endStream: true });
    return;
  }
  const parts = [];
  let size = 0;
  stream.on('data', (d) => {
    size += d.length;
    if (size > MAX_BODY) {
      fail(stream, STATUS.INVALID_ARGUMENT, 'request too large');
      stream.close(http2.constants.NGHTTP2_CANCEL);
      return;
    }
    parts.push(d);
  });
  stream.on('end', () => {
    if (size > MAX_BODY || stream.destroyed) return;
    try {
      handle(stream, headers, Buffer.concat(parts));
    } catch (e) {
      fail(stream, STATUS.INTERNAL, 'internal error');
    }
  });
});

server.on('sessionError', () => {});
server.on('tlsClientError', () => {});

server.listen(Number(opts.port), '127.0.0.1', () => {
  const port = server.address().port;
  if (opts.ready) {
    fs.writeFileSync(opts.ready + '.tmp', `${port}\n`);
    fs.renameSync(opts.ready + '.tmp', opts.ready);
  }
  log(`listening on 127.0.0.1:${port} mode=${opts.mode}`);
});

function stop() {
  server.close();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
