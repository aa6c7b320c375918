// worker-per-request.js - the article's design, as written there: Express, and a new
// Worker (fib-worker.js) for every GET /fibonacci/:number. GET /healthz is answered on the
// main thread. Answers {"success":true,"result":N}. HOST and PORT from the environment.
'use strict';
const path = require('path');
const { Worker } = require('worker_threads');
const { makeApp, listen } = require('./common');

const workerFile = path.join(__dirname, 'fib-worker.js');

const app = makeApp((n, req, res) => {
  const worker = new Worker(workerFile, { workerData: n });
  worker.on('message', (result) => res.json({ success: true, result }));
  worker.on('error', (error) => res.status(500).json({ success: false, error: error.message }));
});

listen(app, 'worker-per-request');
