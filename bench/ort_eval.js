// ONNX Runtime side of bench/train_vs_torch.py's evaluation: top-1 and throughput of a classifier on a labelled set
// stored as .npy (images N x C x H x W float32, labels N integers), in batches (the last one smaller), after one
// warm-up batch. Prints one JSON line: samples, seconds (all timed batches), samples_per_second, top1 (percent).
// usage: node ort_eval.js MODEL --images X.npy --labels Y.npy [--batch 256] [--threads 2]
'use strict';
const path = require('path');
const { loadOrt, readNpy, createSession } = require(path.resolve(__dirname, '../tests/ort/ort_run.js'));

function parseArgs(argv) {
  const a = { model: null, images: null, labels: null, batch: 256, threads: 2 };
  for (let i = 0; i < argv.length; ++i) {
    const k = argv[i];
    if (k === '--images') a.images = argv[++i];
    else if (k === '--labels') a.labels = argv[++i];
    else if (k === '--batch') a.batch = Number(argv[++i]);
    else if (k === '--threads') a.threads = Number(argv[++i]);
    else if (!a.model) a.model = k;
    else throw new Error('unexpected argument ' + k);
  }
  if (!a.model || !a.images || !a.labels || !(a.batch >= 1))
    throw new Error('usage: node ort_eval.js MODEL --images X.npy --labels Y.npy [--batch 256] [--threads 2]');
  return a;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const ort = loadOrt();
  const images = readNpy(a.images);
  const labels = readNpy(a.labels);
  if (images.type !== 'float32') throw new Error(a.images + ': want float32 images, got ' + images.type);
  const n = images.dims[0];
  if (labels.dims.length !== 1 || labels.dims[0] !== n)
    throw new Error('labels [' + labels.dims.join(', ') + '] do not match ' + n + ' images');
  const per = images.dims.slice(1).reduce((x, y) => x * y, 1);
  const session = await createSession(ort, a.model, a.threads);
  const input = session.inputNames[0];
  const output = session.outputNames[0];
  const feed = (start, count) => ({
    [input]: new ort.Tensor('float32', images.data.subarray(start * per, (start + count) * per),
      [count].concat(images.dims.slice(1))),
  });

  await session.run(feed(0, Math.min(a.batch, n)));  // warm-up (first-run allocations, kernel selection)
  let correct = 0;
  let seconds = 0;
  for (let start = 0; start < n; start += a.batch) {
    const count = Math.min(a.batch, n - start);
    const feeds = feed(start, count);
    const t0 = process.hrtime.bigint();
    const out = (await session.run(feeds))[output];
    seconds += Number(process.hrtime.bigint() - t0) / 1e9;
    const classes = out.dims[1];
    for (let i = 0; i < count; ++i) {
      let best = 0;
      for (let c = 1; c < classes; ++c) if (out.data[i * classes + c] > out.data[i * classes + best]) best = c;
      if (best === Number(labels.data[start + i])) ++correct;
    }
  }
  console.log(JSON.stringify({ model: a.model, samples: n, batch: a.batch, threads: a.threads, seconds,
    samples_per_second: n / seconds, top1: (100 * correct) / n }));
}

main().catch((e) => {
  console.error('ort_eval: error: ' + (e && e.message ? e.message : e));
  process.exit(2);
});
