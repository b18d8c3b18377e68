// Runs an ONNX model in onnxruntime-node on .npy inputs and writes one .npy per output (named as `pare run` names
// them), so pare and ONNX Runtime can be compared file by file. Also a small module: npy read/write, session setup.
// usage: node ort_run.js MODEL.onnx --input NAME=FILE.npy [...] --output-dir DIR [--threads 2]
//        [--opt-level all|extended|basic|disabled]
'use strict';
const fs = require('fs');
const path = require('path');

function loadOrt() {
  const candidates = [process.env.ORT_NODE_MODULE, 'onnxruntime-node',
    path.resolve(__dirname, '../../.deps/node_modules/onnxruntime-node')].filter(Boolean);
  for (const c of candidates) {
    try {
      return require(c);
    } catch (e) { /* try the next place */ }
  }
  throw new Error('onnxruntime-node not found (tried ' + candidates.join(', ') + '); set ORT_NODE_MODULE or NODE_PATH');
}

// npy descr -> [ORT tensor type, typed array constructor]
const kTypes = {
  '<f4': ['float32', Float32Array], '<f8': ['float64', Float64Array], '<i8': ['int64', BigInt64Array],
  '<i4': ['int32', Int32Array], '<i2': ['int16', Int16Array], '|i1': ['int8', Int8Array],
  '|u1': ['uint8', Uint8Array], '|b1': ['bool', Uint8Array], '<u2': ['float16', Uint16Array],
};
const kDescrOf = {};
for (const [descr, [type]] of Object.entries(kTypes)) if (type !== 'float16') kDescrOf[type] = descr;
kDescrOf.float16 = '<f2';

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf.readUInt8(0) !== 0x93 || buf.toString('latin1', 1, 6) !== 'NUMPY')
    throw new Error(file + ': not a .npy file (bad magic)');
  const major = buf.readUInt8(6);
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) throw new Error(file + ': unreadable npy header ' + header);
  if (fortran[1] === 'True') throw new Error(file + ': Fortran-ordered arrays are not supported');
  const d = descr[1] === '<f2' ? '<u2' : descr[1];
  if (!kTypes[d]) throw new Error(file + ': unsupported dtype ' + descr[1]);
  const [type, Ctor] = kTypes[d];
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  const count = dims.reduce((a, b) => a * b, 1);
  const offset = start + headerLen;
  const bytes = count * Ctor.BYTES_PER_ELEMENT;
  if (buf.length < offset + bytes) throw new Error(file + ': truncated (' + buf.length + ' bytes)');
  // Copy into a fresh, aligned ArrayBuffer: the file buffer may start at any byte offset.
  const ab = buf.buffer.slice(buf.byteOffset + offset, buf.byteOffset + offset + bytes);
  let data = new Ctor(ab);
  if (type === 'bool') data = Uint8Array.from(data, (v) => (v ? 1 : 0));
  return { type: descr[1] === '<f2' ? 'float16' : type, dims, data };
}

function writeNpy(file, type, dims, data) {
  const descr = kDescrOf[type];
  if (!descr) throw new Error('cannot write tensor type ' + type + ' to ' + file);
  const shape = dims.length === 1 ? '(' + dims[0] + ',)' : '(' + dims.join(', ') + ')';
  let header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ', }';
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.writeUInt8(0x93, 0);
  pre.write('NUMPY', 1, 'latin1');
  pre.writeUInt8(1, 6);
  pre.writeUInt8(0, 7);
  pre.writeUInt16LE(header.length, 8);
  const body = type === 'bool' ? Buffer.from(Uint8Array.from(data, (v) => (v ? 1 : 0)))
    : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const tmp = file + '.tmp' + process.pid;
  fs.writeFileSync(tmp, Buffer.concat([pre, Buffer.from(header, 'latin1'), body]));
  fs.renameSync(tmp, file);
}

// Same file names as `pare run`: characters other than [A-Za-z0-9._-] become '_'.
function fileNameFor(value) {
  return value.replace(/[^A-Za-z0-9._-]/g, '_') + '.npy';
}

async function createSession(ort, model, threads, optLevel) {
  return ort.InferenceSession.create(model, { intraOpNumThreads: threads, interOpNumThreads: 1,
    executionMode: 'sequential', graphOptimizationLevel: optLevel });
}

function parseArgs(argv) {
  const args = { model: null, inputs: [], outDir: null, threads: 2, optLevel: 'all' };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    if (a === '--input' || a === '-i') args.inputs.push(argv[++i]);
    else if (a === '--output-dir' || a === '-o') args.outDir = argv[++i];
    else if (a === '--threads') args.threads = Number(argv[++i]);
    else if (a === '--opt-level') args.optLevel = argv[++i];
    else if (!args.model) args.model = a;
    else throw new Error('unexpected argument ' + a);
  }
  if (!args.model || !args.outDir) throw new Error('usage: node ort_run.js MODEL --input NAME=FILE.npy --output-dir DIR');
  return args;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const ort = loadOrt();
  const session = await createSession(ort, args.model, args.threads, args.optLevel);
  const feeds = {};
  for (const spec of args.inputs) {
    const eq = spec.indexOf('=');
    const name = eq < 0 ? session.inputNames[0] : spec.slice(0, eq);
    const t = readNpy(eq < 0 ? spec : spec.slice(eq + 1));
    feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
  }
  const results = await session.run(feeds);
  fs.mkdirSync(args.outDir, { recursive: true });
  for (const name of session.outputNames) {
    const t = results[name];
    const file = path.join(args.outDir, fileNameFor(name));
    writeNpy(file, t.type, t.dims, t.data);
    console.log('output ' + name + ' ' + t.type + ' [' + t.dims.join(', ') + '] -> ' + file);
  }
}

module.exports = { loadOrt, readNpy, writeNpy, fileNameFor, createSession };

if (require.main === module) {
  main().catch((e) => {
    console.error('ort_run: error: ' + (e && e.message ? e.message : e));
    process.exit(2);
  });
}
