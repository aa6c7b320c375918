'use strict'
// clients.js - real Node.js HTTP clients against a uvfib server, for
// test_real_clients.py. Every response body is checked against the exact
// Fibonacci value (BigInt) or /healthz's 200; one JSON summary goes to stdout.
//
//   node clients.js undici     PORT REQUESTS CONNECTIONS PIPELINING N,N,...
//   node clients.js autocannon PORT REQUESTS CONNECTIONS PIPELINING N,N,...
//
// The list of n is cycled through in order (request i asks for n[i % len]); an
// n of -1 stands for GET /healthz. undici: one Pool of CONNECTIONS connections,
// each pipelining up to PIPELINING requests, REQUESTS requests issued at once.
// autocannon: `amount` REQUESTS over CONNECTIONS connections with PIPELINING,
// its `requests` array cycled per connection; onResponse sees each body.
//
// Summary: {tool, requests, responses, status: {code: count}, errors,
// mismatches, first_mismatches, latency_ms: {mean, p50, p99, max}, ...}; the
// tool's own counters beside it for autocannon. Exit 0 when the run finished,
// whatever it found (the Python test judges); 2 on bad arguments.

function fib (n) {
  let a = 0n
  let b = 1n
  for (let i = 0; i < n; i++) [a, b] = [b, a + b]
  return a
}

function pathOf (n) {
  return n < 0 ? '/healthz' : '/fibonacci/' + n
}

// Why the body is not what n must give, or null when it is.
function checkBody (n, status, text) {
  if (status !== 200) return 'status ' + status
  if (n < 0) return null
  let doc
  try {
    doc = JSON.parse(text)
  } catch (e) {
    return 'not JSON: ' + JSON.stringify(text)
  }
  const want = fib(n).toString()
  const digits = /"result":(\d+)\s*}\s*$/.exec(text)
  if (doc.success !== true || !digits || digits[1] !== want) {
    return 'n=' + n + ' want ' + want + ', got ' + JSON.stringify(text)
  }
  return null
}

function percentile (sorted, p) {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)]
}

function latencySummary (ms) {
  const sorted = ms.slice().sort((x, y) => x - y)
  const sum = sorted.reduce((s, x) => s + x, 0)
  return {
    mean: sorted.length ? sum / sorted.length : 0,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1] : 0
  }
}

class Tally {
  constructor (tool) {
    this.summary = { tool, requests: 0, responses: 0, status: {}, errors: 0, mismatches: 0, first_mismatches: [] }
    this.errorMessages = []
  }

  response (n, status, text) {
    this.summary.responses++
    this.summary.status[status] = (this.summary.status[status] || 0) + 1
    const why = checkBody(n, status, text)
    if (why !== null) {
      this.summary.mismatches++
      if (this.summary.first_mismatches.length < 5) this.summary.first_mismatches.push(why)
    }
  }

  error (e) {
    this.summary.errors++
    if (this.errorMessages.length < 5) this.errorMessages.push(String(e && (e.code || e.message) || e))
  }

  done (extra) {
    Object.assign(this.summary, extra, { first_errors: this.errorMessages })
    process.stdout.write(JSON.stringify(this.summary) + '\n')
  }
}

async function runUndici (origin, requests, connections, pipelining, ns) {
  const { Pool } = require('undici')
  const pool = new Pool(origin, { connections, pipelining, headersTimeout: 30000, bodyTimeout: 30000 })
  const tally = new Tally('undici')
  const latencies = []
  const one = async (i) => {
    const n = ns[i % ns.length]
    const start = process.hrtime.bigint()
    try {
      const { statusCode, body } = await pool.request({ path: pathOf(n), method: 'GET' })
      const text = await body.text()
      latencies.push(Number(process.hrtime.bigint() - start) / 1e6)
      tally.response(n, statusCode, text)
    } catch (e) {
      tally.error(e)
    }
  }
  const started = process.hrtime.bigint()
  const all = []
  for (let i = 0; i < requests; i++) {
    tally.summary.requests++
    all.push(one(i))
  }
  await Promise.all(all)
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  await pool.close()
  tally.done({ seconds, latency_ms: latencySummary(latencies), undici: require('undici/package.json').version })
}

function runAutocannon (origin, requests, connections, pipelining, ns) {
  const autocannon = require('autocannon')
  const tally = new Tally('autocannon')
  const entries = ns.map((n) => ({
    method: 'GET',
    path: pathOf(n),
    onResponse: (status, body) => tally.response(n, status, body)
  }))
  const instance = autocannon({
    url: origin, connections, pipelining, amount: requests, timeout: 30, requests: entries
  }, (err, result) => {
    if (err) {
      tally.error(err)
      tally.done({})
      return
    }
    tally.summary.requests = requests
    tally.done({
      seconds: result.duration,
      latency_ms: { mean: result.latency.average, p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
      autocannon: {
        version: require('autocannon/package.json').version,
        sent: result.requests.sent,
        total: result.requests.total,
        '2xx': result['2xx'],
        non2xx: result.non2xx,
        errors: result.errors,
        timeouts: result.timeouts,
        resets: result.resets
      }
    })
  })
  instance.on('reqError', (e) => tally.error(e))
}

function main (argv) {
  const [tool, port, requests, connections, pipelining, list] = argv
  const nums = [port, requests, connections, pipelining].map(Number)
  if (!['undici', 'autocannon'].includes(tool) || nums.some((x) => !Number.isInteger(x) || x < 1) || !list) {
    process.stderr.write('usage: clients.js undici|autocannon PORT REQUESTS CONNECTIONS PIPELINING N,N,...\n')
    process.exit(2)
  }
  const ns = list.split(',').map(Number)
  const origin = 'http://127.0.0.1:' + nums[0]
  const run = tool === 'undici' ? runUndici : runAutocannon
  Promise.resolve(run(origin, nums[1], nums[2], nums[3], ns)).catch((e) => {
    process.stderr.write(String(e && e.stack || e) + '\n')
    process.exit(1)
  })
}

main(process.argv.slice(2))
