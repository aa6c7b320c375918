'use strict';
// server.js - the Node.js server test_bench_servers.py points uvfib-bench at: prom-client's
// default metrics on /metrics (nodejs_eventloop_lag_*_seconds, reset at each scrape), plus an
// app-defined nodejs_eventloop_utilization, a route answered after a fixed delay without
// blocking the loop (/delay), and one that blocks the loop (/block). Not a benchmark target.
//
// Environment: PORT (default 0: any free port), DELAY_MS (50), BLOCK_MS (30). Prints
// "listening on http://127.0.0.1:PORT" once it accepts connections; exits on SIGTERM.

const http = require('node:http');
const { performance } = require('node:perf_hooks');
const client = require('prom-client');

const DELAY_MS = Number(process.env.DELAY_MS || 50);
const BLOCK_MS = Number(process.env.BLOCK_MS || 30);

client.collectDefaultMetrics({ eventLoopMonitoringPrecision: 10 });

// prom-client does not export the loop's utilization; an application may, as this one does,
// over the time since the previous scrape.
let eluBefore = performance.eventLoopUtilization();
new client.Gauge({
  name: 'nodejs_eventloop_utilization',
  help: 'Event-loop utilization since the previous scrape, 0 to 1.',
  collect() {
    const now = performance.eventLoopUtilization();
    this.set(performance.eventLoopUtilization(now, eluBefore).utilization);
    eluBefore = now;
  },
});

function json(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(body);
}

const server = http.createServer((req, res) => {
  if (req.url === '/metrics') {
    client.register.metrics().then((text) => {
      res.writeHead(200, { 'Content-Type': client.register.contentType });
      res.end(text);
    }, (err) => json(res, 500, JSON.stringify({ success: false, error: String(err) })));
  } else if (req.url === '/delay') {
    setTimeout(() => json(res, 200, '{"success":true}'), DELAY_MS);
  } else if (req.url === '/block') {
    // Holds the loop, as a CPU-bound handler without offloading does.
    const end = performance.now() + BLOCK_MS;
    while (performance.now() < end) {
      // spin
    }
    json(res, 200, '{"success":true}');
  } else {
    json(res, 404, '{"success":false}');
  }
});

server.keepAliveTimeout = 10000;
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', () => process.exit(0));
