// Memory read bandwidth of this machine, measured in-process.
//
// Three single-thread readers over the same 256 MiB (far beyond any cache):
//   wasm-simd  a hand-assembled WebAssembly loop: 8 f64x2 accumulators, 128 B
//              per iteration — the closest JS can get to a native streaming read
//   memcmp     Buffer.compare of two equal 128 MiB halves (libc's SIMD memcmp)
//   js         a Float64Array sum with 8 accumulators (V8 does not vectorise it)
// The read bandwidth used for the bound is the best of the three. The 2-thread
// figure is measured with two worker_threads running the wasm reader over
// their own 128 MiB each, started together; bandwidth = total bytes / wall time.

import { Worker } from 'node:worker_threads'

const MiB = 1024 * 1024

// ---- a tiny WebAssembly module, assembled by hand -------------------------
// (module
//   (memory (export "mem") 1)
//   (func (export "sum") (param $p i32) (param $end i32) (result f64)
//     (local v128 ×8)
//     loop: acc_k += f64x2 load(p + 16k), k = 0..7; p += 128; br_if p < end
//     return the horizontal sum of the accumulators))
function leb(n) {
  const out = []
  do {
    let b = n & 0x7f
    n >>>= 7
    if (n !== 0) b |= 0x80
    out.push(b)
  } while (n !== 0)
  return out
}
function section(id, bytes) {
  return [id, ...leb(bytes.length), ...bytes]
}
function str(s) {
  return [...leb(s.length), ...Buffer.from(s, 'utf8')]
}

function sumModuleBytes() {
  const I32 = 0x7f
  const F64 = 0x7c
  const V128 = 0x7b
  const localGet = (i) => [0x20, i]
  const localSet = (i) => [0x21, i]
  const v128Load = (offset) => [0xfd, 0x00, 4, ...leb(offset)] // align 2^4
  const f64x2Add = [0xfd, ...leb(240)]
  const f64x2ExtractLane = (l) => [0xfd, ...leb(33), l]
  const ACC = 8
  const body = []
  body.push(1, ACC, V128) // one local group: 8 × v128 (locals 2..9)
  body.push(0x03, 0x40) // loop (empty block type)
  for (let k = 0; k < ACC; k++) {
    body.push(...localGet(2 + k), ...localGet(0), ...v128Load(16 * k), ...f64x2Add, ...localSet(2 + k))
  }
  body.push(...localGet(0), 0x41, ...leb(128), 0x6a, ...localSet(0)) // p += 128 (i32.const 128 is LEB 0x80 0x01)
  body.push(...localGet(0), ...localGet(1), 0x49, 0x0d, 0) // br_if 0 (p <u end)
  body.push(0x0b) // end loop
  // pairwise reduce the accumulators into local 2
  for (let step = 1; step < ACC; step *= 2) {
    for (let k = 0; k + step < ACC; k += 2 * step) {
      body.push(...localGet(2 + k), ...localGet(2 + k + step), ...f64x2Add, ...localSet(2 + k))
    }
  }
  body.push(...localGet(2), ...f64x2ExtractLane(0), ...localGet(2), ...f64x2ExtractLane(1), 0xa0) // f64.add
  body.push(0x0b) // end func
  const code = [1, ...leb(body.length), ...body]
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, [1, 0x60, 2, I32, I32, 1, F64]), // type: (i32, i32) -> f64
    ...section(3, [1, 0]), // function 0 has type 0
    ...section(5, [1, 0x00, 1]), // one memory, min 1 page
    ...section(7, [2, ...str('mem'), 0x02, 0, ...str('sum'), 0x00, 0]), // exports
    ...section(10, code),
  ])
}

let compiled
function wasmModule() {
  compiled ??= new WebAssembly.Module(sumModuleBytes())
  return compiled
}

/** A wasm reader over `bytes` bytes of its own memory, filled with data. */
export function makeWasmReader(bytes) {
  const instance = new WebAssembly.Instance(wasmModule(), {})
  const { mem, sum } = instance.exports
  mem.grow(Math.ceil(bytes / 65536))
  const view = new Float64Array(mem.buffer, 0, bytes / 8)
  for (let i = 0; i < view.length; i++) view[i] = (i & 1023) * 0.5
  // tier up: V8 compiles wasm with Liftoff first and optimises hot functions
  for (let i = 0; i < 2000; i++) sum(0, 64 * 1024)
  return { read: () => sum(0, bytes), expected: view.reduce((a, b) => a + b, 0) }
}

function timeMs(fn) {
  const t0 = process.hrtime.bigint()
  fn()
  return Number(process.hrtime.bigint() - t0) / 1e6
}
function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Bytes per second of the fastest of `rounds` runs: what the memory can do at best (a bound's probe). */
function measureBest(bytes, fn, rounds) {
  fn()
  let best = Number.POSITIVE_INFINITY
  for (let r = 0; r < rounds; r++) best = Math.min(best, timeMs(fn))
  return bytes / (best / 1e3)
}

function measureReader(bytes, fn, rounds) {
  fn()
  const times = []
  for (let r = 0; r < rounds; r++) times.push(timeMs(fn))
  return bytes / (median(times) / 1e3) // bytes per second
}

/** Single-thread read bandwidth (bytes/s), best of three readers, plus details. */
export function singleThreadBandwidth({ bytes = 256 * MiB, rounds = 7 } = {}) {
  const out = {}
  const wasm = makeWasmReader(bytes)
  const got = wasm.read()
  if (Math.abs(got - wasm.expected) > 1e-6 * Math.abs(wasm.expected)) {
    throw new Error(`bandwidth: wasm sum ${got} != ${wasm.expected}`)
  }
  out.wasmSimd = measureReader(bytes, wasm.read, rounds)

  const buf = Buffer.alloc(bytes)
  for (let i = 0; i < bytes; i += 4096) buf[i] = i & 0xff
  const a = buf.subarray(0, bytes / 2)
  const b = buf.subarray(bytes / 2)
  b.set(a)
  out.memcmp = measureReader(bytes, () => Buffer.compare(a, b), rounds)

  const f = new Float64Array(buf.buffer, buf.byteOffset, bytes / 8)
  const jsSum = () => {
    let s0 = 0,
      s1 = 0,
      s2 = 0,
      s3 = 0,
      s4 = 0,
      s5 = 0,
      s6 = 0,
      s7 = 0
    const n = f.length
    for (let i = 0; i < n; i += 8) {
      s0 += f[i]
      s1 += f[i + 1]
      s2 += f[i + 2]
      s3 += f[i + 3]
      s4 += f[i + 4]
      s5 += f[i + 5]
      s6 += f[i + 6]
      s7 += f[i + 7]
    }
    return s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7
  }
  out.js = measureReader(bytes, jsSum, Math.min(rounds, 3))
  out.best = Math.max(out.wasmSimd, out.memcmp, out.js)
  return out
}

/** A copier of `bytes` bytes between two warm buffers of its own (TypedArray.set: memcpy). */
export function makeCopier(bytes) {
  const src = new Float64Array(bytes / 8)
  for (let i = 0; i < src.length; i++) src[i] = (i & 1023) * 0.5
  const dst = new Float64Array(bytes / 8).fill(1)
  dst.set(src)
  return { read: () => dst.set(src) }
}

/** Single-thread copy bandwidth: bytes copied per second (each read once and written once). */
export function singleThreadCopy({ bytes = 128 * MiB, rounds = 7 } = {}) {
  const c = makeCopier(bytes)
  return measureReader(bytes, c.read, rounds)
}

const WORKER_SRC = `
const { parentPort, workerData } = require('node:worker_threads');
const { bytes, url, flag, copy } = workerData;
import(url).then(({ makeWasmReader, makeCopier }) => {
  const r = copy ? makeCopier(bytes) : makeWasmReader(bytes);
  r.read();
  const f = new Int32Array(flag);
  parentPort.postMessage({ ready: true });
  const times = [];
  for (let round = 0; round < workerData.rounds; round++) {
    Atomics.wait(f, 0, round);            // wait for the main thread's go
    const t0 = process.hrtime.bigint();
    r.read();
    const t1 = process.hrtime.bigint();
    times.push([String(t0), String(t1)]);
    Atomics.add(f, 1, 1);                  // done
  }
  parentPort.postMessage({ times });
});
`

/** Read bandwidth (bytes/s) of `threads` workers reading `bytes` in total (copying them, with `copy`). */
export async function multiThreadBandwidth({ threads = 2, bytes = 256 * MiB, rounds = 5, copy = false } = {}) {
  const flag = new SharedArrayBuffer(8)
  const f = new Int32Array(flag)
  const per = bytes / threads
  const url = import.meta.url
  const workers = []
  const ready = []
  const results = []
  for (let w = 0; w < threads; w++) {
    const worker = new Worker(WORKER_SRC, { eval: true, workerData: { bytes: per, url, flag, rounds, copy } })
    workers.push(worker)
    results.push(
      new Promise((resolve, reject) => {
        let readyResolve
        ready.push(new Promise((r) => (readyResolve = r)))
        worker.on('message', (m) => (m.ready ? readyResolve() : resolve(m.times)))
        worker.on('error', reject)
      }),
    )
  }
  await Promise.all(ready)
  for (let round = 0; round < rounds; round++) {
    Atomics.store(f, 1, 0)
    await new Promise((r) => setTimeout(r, 20)) // let every worker reach Atomics.wait
    Atomics.store(f, 0, round + 1)
    Atomics.notify(f, 0)
    while (Atomics.load(f, 1) < threads) await new Promise((r) => setTimeout(r, 1))
  }
  const all = await Promise.all(results)
  await Promise.all(workers.map((w) => w.terminate()))
  const walls = []
  for (let round = 0; round < rounds; round++) {
    const starts = all.map((t) => BigInt(t[round][0]))
    const ends = all.map((t) => BigInt(t[round][1]))
    // biome-ignore lint/complexity/useMathMinMax: BigInt values, Math.min does not take them
    const start = starts.reduce((a, b) => (a < b ? a : b))
    // biome-ignore lint/complexity/useMathMinMax: BigInt values, Math.max does not take them
    const end = ends.reduce((a, b) => (a > b ? a : b))
    walls.push(Number(end - start) / 1e9)
  }
  return (per * threads) / median(walls)
}

/**
 * losskit's own streaming kernels (`__impl.stream`), on its thread pool with
 * 1 and 2 threads: `best` = { [threads]: { read, triad, fill, runs } } in
 * bytes/s, where read is float32 bytes summed per second, triad bytes of `a`
 * per second for `a = b + s·c` (two reads and one ordinary write per element)
 * and fill bytes zeroed per second, each the fastest of its rounds (a bound
 * must not be above what the memory did once). They move memory as the
 * losses do, so they reach more than the JavaScript readers and copies above.
 * `probe(threads, rounds)` runs them again (the benchmark does after every
 * memory-bound row: this VM's bandwidth drifts by a third over a run, and a
 * bound taken at one moment does not hold at another); `best` keeps the
 * fastest of all runs.
 */
export function nativeStreams(stream, setNumThreads, { bytes = 128 * MiB, rounds = 7 } = {}) {
  const n = bytes / 4
  const b = new Float32Array(n).fill(1)
  const c = new Float32Array(n).fill(2)
  const a = new Float32Array(n).fill(0)
  // The fastest each probe has ever been, per thread count, and how often it ran.
  const best = {}
  /** Runs the three probes at `th` threads, `r` rounds each; keeps the fastest. */
  const probe = (th, r) => {
    setNumThreads(th)
    const got = {
      read: measureBest(bytes, () => stream.read(b), r),
      triad: measureBest(bytes, () => stream.triad(a, b, c, 0.5), r),
      fill: measureBest(bytes, () => stream.fill(a), r),
    }
    best[th] ??= { read: 0, triad: 0, fill: 0, runs: 0 }
    const o = best[th]
    for (const k of ['read', 'triad', 'fill']) o[k] = Math.max(o[k], got[k])
    o.runs++
    return got
  }
  for (const th of [1, 2]) probe(th, rounds)
  return { best, probe }
}

/**
 * In bytes/s: read bandwidth { t1, t1Detail, t2 }, copy bandwidth { copy1,
 * copy2 } (bytes copied per second, 1 and 2 threads: each byte read once and
 * written once) and, given losskit (`lk`), its streaming kernels { native }
 * with `probe(threads, rounds)`, which runs them again and keeps in `native`
 * the fastest they have ever been (see nativeStreams).
 */
export async function measureBandwidth({ quick = false, lk = null } = {}) {
  const bytes = (quick ? 128 : 256) * MiB
  const rounds = quick ? 3 : 7
  const t1Detail = singleThreadBandwidth({ bytes, rounds })
  const t2 = await multiThreadBandwidth({ threads: 2, bytes, rounds: quick ? 3 : 5 })
  const copy1 = singleThreadCopy({ bytes: bytes / 2, rounds })
  const copy2 = await multiThreadBandwidth({ threads: 2, bytes: bytes / 2, rounds: quick ? 3 : 5, copy: true })
  let native = null
  let probe = null
  if (lk?.__impl?.stream) {
    const threads = lk.getNumThreads()
    ;({ best: native, probe } = nativeStreams(lk.__impl.stream, lk.setNumThreads, { bytes: bytes / 2, rounds }))
    lk.setNumThreads(threads)
  }
  return { t1: t1Detail.best, t1Detail, t2, copy1, copy2, native, probe, bytes }
}
