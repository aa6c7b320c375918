// fib-worker.js - the article's worker.js: one computation per Worker, then exit.
// Started by worker-per-request.js with workerData = n.
'use strict';
const { parentPort, workerData } = require('worker_threads');

function calculateFibonacci(n) {
  if (n <= 1) return n;
  return calculateFibonacci(n - 1) + calculateFibonacci(n - 2);
}

parentPort.postMessage(calculateFibonacci(workerData));
