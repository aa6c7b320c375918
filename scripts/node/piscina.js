// piscina.js - the article's "worker pool for production": Express and a piscina pool of
// as many threads as cores (os.availableParallelism(), or THREADS), started once and
// reused. Same routes and answers as worker-per-request.js. HOST and PORT from the
// environment.
'use strict';
const os = require('os');
const path = require('path');
const Piscina = require('piscina');
const { makeApp, listen } = require('./common');

const threads = Number(process.env.THREADS ||
  (os.availableParallelism ? os.availableParallelism() : os.cpus().length));
const pool = new Piscina({
  filename: path.join(__dirname, 'fib-task.js'),
  minThreads: threads,
  maxThreads: threads,
});

const app = makeApp((n, req, res) => {
  pool.run(n).then(
    (result) => res.json({ success: true, result }),
    (error) => res.status(500).json({ success: false, error: error.message }));
});

listen(app, 'piscina');
