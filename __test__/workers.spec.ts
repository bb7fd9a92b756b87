// The addon in several worker_threads at once: loads by name ('losskit',
// 'losskit/async') in each worker, computes the same bits as the main thread,
// and survives workers that are terminated or call process.exit while an async
// computation is in flight (or during a long sync call). The main thread keeps
// working afterwards.

import { once } from 'node:events'
import { Worker } from 'node:worker_threads'
import test from 'ava'
import * as L from 'losskit'
import * as A from 'losskit/async'
// @ts-expect-error: a plain .mjs helper shared with the workers
import { computeAll } from './fixtures/worker_compute.mjs'

// biome-ignore lint/suspicious/noExplicitAny: messages are untyped
type Any = any

const ENTRY = new URL('./fixtures/worker_entry.mjs', import.meta.url)

function spawn(workerData: Record<string, unknown>): {
  w: Worker
  messages: Any[]
  exit: Promise<number>
  next: (type: string) => Promise<Any>
} {
  const w = new Worker(ENTRY, { workerData })
  const messages: Any[] = []
  const waiters: [string, (m: Any) => void][] = []
  w.on('message', (m) => {
    messages.push(m)
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i][0] === m.type) {
        waiters[i][1](m)
        waiters.splice(i, 1)
      }
    }
  })
  const errors: unknown[] = []
  w.on('error', (e) => errors.push(e))
  const exit = once(w, 'exit').then(([code]) => {
    if (errors.length > 0) throw errors[0]
    return code as number
  })
  const next = (type: string) => {
    const got = messages.find((m) => m.type === type)
    if (got) return Promise.resolve(got)
    return new Promise<Any>((resolve, reject) => {
      waiters.push([type, resolve])
      exit.then(() => reject(new Error(`worker exited before sending '${type}'`)), reject)
    })
  }
  return { w, messages, exit, next }
}

function diff(a: Record<string, Uint8Array>, b: Record<string, Uint8Array>): string[] {
  const bad: string[] = []
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (!a[k] || !b[k] || !Buffer.from(a[k]).equals(Buffer.from(b[k]))) bad.push(k)
  }
  return bad
}

const SMALL = { data: Float32Array.of(1, 2, 3, 4, 5, 6), shape: [2, 3] }
const SMALL_T = Int32Array.of(0, 2)

test.serial(
  '4 (and then 6) workers load the addon by name and compute the same bits as the main thread, concurrently with it',
  async (t) => {
    for (const seeds of [
      [1, 2, 3, 4],
      [5, 5, 6, 6, 7, 8],
    ]) {
      const workers = seeds.map((seed) => spawn({ mode: 'compute', seed }))
      // the main thread computes at the same time
      const mains = await Promise.all([...new Set(seeds)].map(async (s) => [s, await computeAll(L, A, s)] as const))
      const bySeed = new Map(mains)
      for (const [i, wk] of workers.entries()) {
        const m = await wk.next('result')
        const bad = diff(m.result, bySeed.get(seeds[i]) as Any)
        t.deepEqual(bad, [], `worker ${i} (seed ${seeds[i]}): results differing from the main thread's`)
        t.is(m.threads, L.getNumThreads(), 'the thread setting is process-wide')
        t.is(await wk.exit, 0, `worker ${i} exits cleanly`)
      }
    }
  },
)

test.serial(
  'terminating workers while large async computations are in flight (at several points) does not crash the process',
  async (t) => {
    const delays = [0, 0, 1, 5, 20, 60, 150, 400]
    const ref = L.crossEntropy(SMALL, SMALL_T)
    let terminated = 0
    let finishedFirst = 0
    // in pairs, so that several terminations overlap
    for (let i = 0; i < delays.length; i += 2) {
      const pair = delays.slice(i, i + 2).map(async (delay) => {
        const wk = spawn({ mode: 'long-async', rows: 512 })
        await wk.next('started')
        if (delay) await new Promise((r) => setTimeout(r, delay))
        const code = await wk.w.terminate()
        // terminate() resolves with undefined when the worker had already finished and exited
        if (code === undefined || wk.messages.some((m) => m.type === 'done')) finishedFirst++
        else terminated++
        return code ?? (await wk.exit)
      })
      const codes = await Promise.all(pair)
      for (const c of codes) t.true(c === 1 || c === 0, `exit code ${c}`)
      // the main thread still computes, sync and async
      t.is(L.crossEntropy(SMALL, SMALL_T), ref)
      t.is(await A.crossEntropy(SMALL, SMALL_T), ref)
    }
    t.log(`${terminated} workers terminated mid-computation (${finishedFirst} had already finished first)`)
  },
)

test.serial('terminating a worker right after it starts (while loading the addon) and during a long sync call', async (t) => {
  // while still loading / building its input
  for (let i = 0; i < 4; i++) {
    const wk = spawn({ mode: 'long-async', rows: 256 })
    await new Promise((r) => setTimeout(r, i * 15))
    const code = (await wk.w.terminate()) ?? (await wk.exit)
    t.true([0, 1].includes(code), `exit code ${code}`)
  }
  // during a long synchronous kernel: termination waits for the native call to return
  const wk = spawn({ mode: 'long-sync', rows: 1024 })
  await wk.next('started')
  await new Promise((r) => setTimeout(r, 20))
  const code = (await wk.w.terminate()) ?? (await wk.exit)
  t.true([0, 1].includes(code), `exit code ${code}`)
  t.is(L.crossEntropy(SMALL, SMALL_T), await A.crossEntropy(SMALL, SMALL_T))
})

test.serial('process.exit inside a worker with async computations pending, and right after a sync call', async (t) => {
  for (const turns of [0, 1, 2, 5, 20, 80]) {
    const wk = spawn({ mode: 'exit-during-async', turns, rows: 256 })
    t.is(await wk.exit, 7, `process.exit(7) after ${turns} turns: the worker's exit code`)
  }
  // several at once
  const many = [0, 3, 10, 40].map((turns) => spawn({ mode: 'exit-during-async', turns, rows: 128 }))
  t.deepEqual(await Promise.all(many.map((w) => w.exit)), [7, 7, 7, 7])
  const e = spawn({ mode: 'exit-after-sync' })
  t.is((await e.next('result')).loss, L.crossEntropyWithGrad(SMALL, SMALL_T).loss)
  t.is(await e.exit, 0)
})

test.serial('after all that, the main thread and a fresh worker still compute the same bits', async (t) => {
  const wk = spawn({ mode: 'compute', seed: 11 })
  const main = await computeAll(L, A, 11)
  const m = await wk.next('result')
  t.deepEqual(diff(m.result, main), [])
  t.is(await wk.exit, 0)
  // and the process-wide thread setting is intact
  t.true(L.getNumThreads() >= 1)
})
