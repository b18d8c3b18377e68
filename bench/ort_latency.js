// ONNX Runtime side of bench/latency_vs_ort.py: fp32 latency of one model at a given batch (random input, batch
// replaces dimension 0), warm-up runs then the median of timed runs, printed as one JSON line.
// usage: node ort_latency.js MODEL --batch N [--threads 2] [--warmup 3] [--repeat 10] [--min-seconds 1]
'use strict';
const path = require('path');
const { loadOrt, createSession } = require(path.resolve(__dirname, '../tests/ort/ort_run.js'));

function parseArgs(argv) {
  const a = { model: null, batch: 1, threads: 2, warmup: 3, repeat: 10, minSeconds: 1.0 };
  for (let i = 0; i < argv.length; ++i) {
    const k = argv[i];
    if (k === '--batch') a.batch = Number(argv[++i]);
    else if (k === '--threads') a.threads = Number(argv[++i]);
    else if (k === '--warmup') a.warmup = Number(argv[++i]);
    else if (k === '--repeat') a.repeat = Number(argv[++i]);
    else if (k === '--min-seconds') a.minSeconds = Number(argv[++i]);
    else if (!a.model) a.model = k;
    else throw new Error('unexpected argument ' + k);
  }
  if (!a.model) throw new Error('usage: node ort_latency.js MODEL --batch N');
  return a;
}

// A small deterministic generator (xorshift32) so both runs of a benchmark see the same input.
function makeRandom(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

function makeFeeds(ort, session, batch) {
  const rnd = makeRandom(12345);
  const feeds = {};
  for (const name of session.inputNames) {
    const meta = session.inputMetadata.find((m) => m.name === name);
    const dims = meta.shape.map((d, i) => {
      if (i === 0) return batch;
      if (typeof d !== 'number') throw new Error('input ' + name + ' has a symbolic dimension besides the batch');
      return d;
    });
    const n = dims.reduce((x, y) => x * y, 1);
    if (meta.type === 'int64') feeds[name] = new ort.Tensor('int64', BigInt64Array.from({ length: n }, () => BigInt(Math.floor(rnd() * 100))), dims);
    else feeds[name] = new ort.Tensor('float32', Float32Array.from({ length: n }, () => 2 * rnd() - 1), dims);
  }
  return feeds;
}

function median(v) {
  const s = [...v].sort((x, y) => x - y);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const ort = loadOrt();
  const session = await createSession(ort, a.model, a.threads);
  const feeds = makeFeeds(ort, session, a.batch);
  for (let i = 0; i < a.warmup; ++i) await session.run(feeds);
  const times = [];
  const cpu = [];  // process CPU time (user + system, all threads) per run, ms
  let total = 0;
  while ((times.length < a.repeat || total < a.minSeconds) && times.length < 200) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e3);
    times.push(ms);
    total += ms / 1e3;
  }
  console.log(JSON.stringify({ model: a.model, batch: a.batch, threads: a.threads, runs: times.length,
    median_ms: median(times), min_ms: Math.min(...times), median_cpu_ms: median(cpu) }));
}

main().catch((e) => {
  console.error('ort_latency: error: ' + (e && e.message ? e.message : e));
  process.exit(2);
});
