// common.js - what the Node.js servers share: the number check, /healthz on the main
// thread, and listening on HOST:PORT (PORT 0 picks a free port) with one line on stdout,
// "<name> listening on http://HOST:PORT", the line scripts/bench waits for.
'use strict';
const express = require('express');

const MAX_N = 45; // as uvfib's default --max-n: one request cannot pin a thread for hours

function parseNumber(text) {
  // The article uses parseInt(text, 10); digits only here, so both servers answer the
  // same requests as uvfib and a bad number is a 400 instead of a Worker computing NaN.
  if (!/^[0-9]{1,20}$/.test(text)) return { error: 400, message: 'number must be a non-negative decimal integer' };
  const n = parseInt(text, 10);
  if (n > MAX_N) return { error: 422, message: `number too large: this server accepts n from 0 to ${MAX_N}` };
  return { n };
}

function makeApp(compute) {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.get('/healthz', (req, res) => res.json({ status: 'ok' }));
  app.get('/fibonacci/:number', (req, res) => {
    const p = parseNumber(req.params.number);
    if (p.error) return res.status(p.error).json({ success: false, error: p.message });
    compute(p.n, req, res);
  });
  return app;
}

function listen(app, name) {
  const host = process.env.HOST || '127.0.0.1';
  const port = Number(process.env.PORT || 3000);
  const server = app.listen(port, host, () => {
    const a = server.address();
    console.log(`${name} listening on http://${a.address}:${a.port}`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  return server;
}

module.exports = { makeApp, listen, parseNumber };
