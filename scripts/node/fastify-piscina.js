// fastify-piscina.js - the Node.js stack a production user would pick today: Fastify (its
// logger off, as by default) and a piscina pool of as many threads as cores (or THREADS),
// started once and reused. Same routes and answers as the Express servers and uvfib; HOST
// and PORT from the environment, one "listening on" line on stdout.
'use strict';
const os = require('os');
const path = require('path');
const Fastify = require('fastify');
const Piscina = require('piscina');
const { parseNumber } = require('./common');

const threads = Number(process.env.THREADS ||
  (os.availableParallelism ? os.availableParallelism() : os.cpus().length));
const pool = new Piscina({
  filename: path.join(__dirname, 'fib-task.js'),
  minThreads: threads,
  maxThreads: threads,
});

const app = Fastify({ logger: false });
app.get('/healthz', async () => ({ status: 'ok' }));
app.get('/fibonacci/:number', async (req, reply) => {
  const p = parseNumber(req.params.number);
  if (p.error) return reply.code(p.error).send({ success: false, error: p.message });
  try {
    return { success: true, result: await pool.run(p.n) };
  } catch (error) {
    return reply.code(500).send({ success: false, error: error.message });
  }
});

const host = process.env.HOST || '127.0.0.1';
const port = Number(process.env.PORT || 3000);
app.listen({ host, port }).then(() => {
  const a = app.server.address();
  console.log(`fastify-piscina listening on http://${a.address}:${a.port}`);
});
const stop = () => app.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
