// fib-task.js - the same naive kernel as a piscina task: threads started once, reused.
'use strict';

function calculateFibonacci(n) {
  if (n <= 1) return n;
  return calculateFibonacci(n - 1) + calculateFibonacci(n - 2);
}

module.exports = (n) => calculateFibonacci(n);
