#!/usr/bin/env node
// Packed-tarball test: what a user gets from `npm install losskit`.
//
//   npm run test:pack            (after `npm run build`, or with a CI artifact at the root)
//   node scripts/pack-test.mjs --keep   keeps the temp dir for a look
//
// 1. `npm pack` the root package and the platform package of this machine
//    (npm/<platform>/ with the built losskit.<platform>.node copied in), and check
//    what each tarball holds.
// 2. Install both into a fresh temp project with --ignore-scripts and a PATH
//    without cargo/rustc: nothing may be built on the user's machine.
// 3. Use it from CommonJS, ESM, `losskit/async` (when the package has it) and
//    strict TypeScript, whose @ts-expect-error lines prove that misuse is a type error.
// Any failure exits non-zero.

import { execFileSync } from 'node:child_process'
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const KEEP = process.argv.includes('--keep')

// PyTorch oracle (float64):
//   F.cross_entropy(torch.tensor([[2, 0.5, -1], [0.1, 1.2, 0.3]], dtype=torch.float64), torch.tensor([0, 1]))
//   = 0.3974374732014474
const LOGITS = [2, 0.5, -1, 0.1, 1.2, 0.3]
const EXPECTED = 0.3974374732014474
const TOL_F64 = 1e-12
const TOL_F32 = 1e-6

const failures = []
const step = (name, fn) => {
  process.stdout.write(`• ${name}\n`)
  try {
    fn()
  } catch (err) {
    failures.push(name)
    process.stdout.write(`  ✗ ${name} failed\n${indent(err.stderr?.toString() || err.stdout?.toString() || err.stack || String(err))}\n`)
  }
}
const indent = (s) =>
  s
    .trimEnd()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n')
const fail = (msg) => {
  throw new Error(msg)
}

// ---------------------------------------------------------------------------
// The napi-rs platform name of this machine (as binding.js computes it)

function isMusl() {
  if (process.platform !== 'linux') return false
  const header = process.report?.getReport?.()?.header
  return !header?.glibcVersionRuntime
}

function platformArchAbi() {
  const { platform, arch } = process
  if (platform === 'linux') return `linux-${arch}-${isMusl() ? 'musl' : 'gnu'}`
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

// ---------------------------------------------------------------------------
// Child processes: npm through the running node (no .cmd shim on Windows), and an
// environment without Rust and without the npm lifecycle variables of `npm run`.

const NPM_CLI = process.env.npm_execpath && /npm-cli\.c?js$/.test(process.env.npm_execpath) ? process.env.npm_execpath : null

const hasRust = (dir) => ['cargo', 'rustc', 'cargo.exe', 'rustc.exe'].some((bin) => existsSync(join(dir, bin)))

function consumerEnv() {
  const env = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_|CARGO|RUSTUP|RUSTC)/i.test(key)) continue
    env[key] = value
  }
  const pathKey = Object.keys(process.env).find((k) => k.toUpperCase() === 'PATH') ?? 'PATH'
  const dirs = (process.env[pathKey] ?? '').split(delimiter)
  const kept = dirs.filter((dir) => dir && !hasRust(dir) && !/[\\/]\.cargo[\\/]bin[\\/]?$/.test(dir))
  env[pathKey] = kept.join(delimiter)
  return { env, removed: [...new Set(dirs.filter((dir) => dir && !kept.includes(dir)))] }
}

function run(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20, ...opts })
}

function npm(args, opts = {}) {
  if (NPM_CLI) return run(process.execPath, [NPM_CLI, ...args], opts)
  return run('npm', args, { ...opts, shell: process.platform === 'win32' })
}

function node(file, opts) {
  return run(process.execPath, [file], opts)
}

// `npm pack --json` → { filename, files: string[] }. --ignore-scripts: `prepare` would build the addon.
function pack(dir, dest) {
  const [info] = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', dest], { cwd: dir }))
  return { tarball: join(dest, info.filename), files: info.files.map((f) => f.path.replace(/\\/g, '/')) }
}

// ---------------------------------------------------------------------------

const rootPkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
const abi = platformArchAbi()
const binaryName = rootPkg.napi?.binaryName ?? rootPkg.name
const nodeFile = `${binaryName}.${abi}.node`
const platformDir = join(ROOT, 'npm', abi)
const hasAsync = existsSync(join(ROOT, 'async.js'))

for (const f of ['index.js', 'index.d.ts', 'binding.js', 'binding.d.ts']) {
  if (!existsSync(join(ROOT, f))) fail(`${f} is missing: run \`npm run build\` first`)
}
const builtNode = [join(platformDir, nodeFile), join(ROOT, nodeFile)].find((p) => existsSync(p))
if (!builtNode) fail(`${nodeFile} is missing (neither at the root nor in npm/${abi}/): run \`npm run build\` first`)
if (!existsSync(join(platformDir, 'package.json'))) fail(`npm/${abi}/package.json is missing: run \`npx napi create-npm-dirs\``)

const work = mkdtempSync(join(tmpdir(), 'losskit-pack-test-'))
const tarballs = join(work, 'tarballs')
const consumer = join(work, 'consumer')
mkdirSync(tarballs)
mkdirSync(consumer)
console.log(`losskit ${rootPkg.version}, platform ${abi}, node ${process.version}, temp dir ${work}`)

let rootTarball
let platformTarball

step('npm pack: root package', () => {
  const { tarball, files } = pack(ROOT, tarballs)
  rootTarball = tarball
  console.log(`  ${files.length} files: ${files.sort().join(', ')}`)
  const required = ['package.json', 'index.js', 'index.d.ts', 'binding.js', 'binding.d.ts', 'LICENSE']
  if (hasAsync) required.push('async.js', 'async.d.ts')
  const missing = required.filter((f) => !files.includes(f))
  if (missing.length) fail(`the root tarball lacks ${missing.join(', ')}`)
  // Binaries ship in the platform packages; sources, tests and build output stay home.
  const stray = files.filter((f) => /\.node$|^(crates|target|__test__|benchmark|examples|scripts|npm)\/|(?<!\.d)\.ts$/.test(f))
  if (stray.length) fail(`the root tarball should not contain ${stray.join(', ')}`)
  // The public types declare no internals (tsconfig's stripInternal drops `@internal` ones).
  for (const f of ['index.d.ts', 'async.d.ts'].filter((f) => files.includes(f))) {
    if (/\b__impl\b|@internal/.test(readFileSync(join(ROOT, f), 'utf8'))) fail(`${f} declares an internal (__impl / @internal)`)
  }
  for (const [sub, target] of Object.entries(rootPkg.exports ?? {})) {
    const targets = typeof target === 'string' ? [target] : Object.values(target)
    for (const t of targets.map((p) => p.replace(/^\.\//, ''))) {
      if (files.includes(t)) continue
      if (sub === './async' && !hasAsync) console.log(`  notice: exports['${sub}'] → ${t} is not built yet (async.ts is being written)`)
      else fail(`exports['${sub}'] points at ${t}, which is not in the tarball`)
    }
  }
})

step(`npm pack: platform package losskit-${abi}`, () => {
  // A copy of npm/<abi>/ with the binary in it, as `napi artifacts` prepares it for publishing.
  const stage = join(work, `platform-${abi}`)
  mkdirSync(stage)
  for (const f of readdirSync(platformDir)) {
    if (statSync(join(platformDir, f)).isFile()) copyFileSync(join(platformDir, f), join(stage, f))
  }
  copyFileSync(builtNode, join(stage, nodeFile))
  const pkg = JSON.parse(readFileSync(join(stage, 'package.json'), 'utf8'))
  if (pkg.name !== `${rootPkg.name}-${abi}`) fail(`npm/${abi}/package.json is named ${pkg.name}`)
  if (pkg.version !== rootPkg.version)
    fail(`npm/${abi} is at version ${pkg.version}, the root at ${rootPkg.version}: run \`npx napi version\``)
  if (pkg.main !== nodeFile) fail(`npm/${abi}/package.json main is ${pkg.main}, expected ${nodeFile}`)
  const { tarball, files } = pack(stage, tarballs)
  platformTarball = tarball
  console.log(`  ${files.length} files: ${files.sort().join(', ')}`)
  if (!files.includes(nodeFile)) fail(`the platform tarball lacks ${nodeFile}`)
})

if (failures.length) finish()

const { env, removed } = consumerEnv()
step('npm install both tarballs into a fresh project (--ignore-scripts, no Rust on PATH)', () => {
  console.log(`  removed from PATH: ${removed.length ? removed.join(', ') : '(nothing: no Rust on PATH)'}`)
  writeFileSync(
    join(consumer, 'package.json'),
    `${JSON.stringify({ name: 'losskit-consumer', version: '0.0.0', private: true }, null, 2)}\n`,
  )
  npm(['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', rootTarball, platformTarball], { cwd: consumer, env })
  const installed = join(consumer, 'node_modules', 'losskit')
  const nodes = readdirSync(installed).filter((f) => f.endsWith('.node'))
  if (nodes.length) fail(`node_modules/losskit holds ${nodes.join(', ')}: the binary must come from losskit-${abi}`)
  if (!existsSync(join(consumer, 'node_modules', `losskit-${abi}`, nodeFile))) fail(`node_modules/losskit-${abi}/${nodeFile} is missing`)
})

// The same checks from CommonJS and ESM. `lk` is the module namespace.
const checks = (lk, where) => `
const near = (got, want, tol, what) => {
  if (typeof got !== 'number' || !(Math.abs(got - want) <= tol)) {
    throw new Error(\`${where}: \${what} = \${got}, expected \${want} (tol \${tol})\`)
  }
}
const logits = ${lk}.tensor(new Float64Array(${JSON.stringify(LOGITS)}), [2, 3])
const target = new Int32Array([0, 1])
near(${lk}.crossEntropy(logits, target), ${EXPECTED}, ${TOL_F64}, 'crossEntropy (float64)')
near(${lk}.crossEntropy(${lk}.tensor(new Float32Array(${JSON.stringify(LOGITS)}), [2, 3]), target), ${EXPECTED}, ${TOL_F32}, 'crossEntropy (float32)')
near(new ${lk}.CrossEntropyLoss().forward(logits, target), ${EXPECTED}, ${TOL_F64}, 'CrossEntropyLoss.forward')

const none = ${lk}.crossEntropy(logits, target, { reduction: 'none' })
if (!(none.data instanceof Float64Array) || none.shape.join() !== '2') throw new Error('${where}: reduction none should be a float64 tensor of shape [2]')
near((none.data[0] + none.data[1]) / 2, ${EXPECTED}, ${TOL_F64}, 'mean of the none result')

// d/dlogits of the mean = (softmax - onehot) / N, computed here in plain JS
const { loss, grad } = ${lk}.crossEntropyWithGrad(logits, target)
near(loss, ${EXPECTED}, ${TOL_F64}, 'crossEntropyWithGrad loss')
if (grad.shape.join() !== '2,3' || !(grad.data instanceof Float64Array)) throw new Error('${where}: grad should be a float64 tensor of shape [2, 3]')
for (let n = 0; n < 2; n++) {
  const row = logits.data.slice(3 * n, 3 * n + 3)
  const m = Math.max(...row)
  const z = row.reduce((s, x) => s + Math.exp(x - m), 0)
  for (let c = 0; c < 3; c++) {
    const want = (Math.exp(row[c] - m) / z - (c === target[n] ? 1 : 0)) / 2
    near(grad.data[3 * n + c], want, ${TOL_F64}, \`grad[\${n}][\${c}]\`)
  }
}

let threw = null
try { ${lk}.crossEntropy(logits, new Int32Array([0, 3])) } catch (err) { threw = err }
if (!(threw instanceof RangeError) || threw.code !== 'ERR_OUT_OF_RANGE') {
  throw new Error(\`${where}: an out-of-range class should throw RangeError ERR_OUT_OF_RANGE, got \${threw}\`)
}
`

const asyncChecks = (lk, where) => `
const near = (got, want, tol, what) => {
  if (typeof got !== 'number' || !(Math.abs(got - want) <= tol)) {
    throw new Error(\`${where}: \${what} = \${got}, expected \${want} (tol \${tol})\`)
  }
}
const pending = ${lk}.crossEntropy({ data: new Float64Array(${JSON.stringify(LOGITS)}), shape: [2, 3] }, new Int32Array([0, 1]))
if (!(pending instanceof Promise)) throw new Error('${where}: crossEntropy should return a Promise')
`

step('CommonJS: require("losskit")', () => {
  writeFileSync(
    join(consumer, 'check.cjs'),
    `'use strict'
const lk = require('losskit')
const path = require('node:path')
if (!require.resolve('losskit').startsWith(path.join(__dirname, 'node_modules'))) throw new Error('losskit resolved outside the temp project')
if (typeof lk.getNumThreads() !== 'number') throw new Error('getNumThreads')
${checks('lk', 'CJS')}
console.log('  CJS ok: crossEntropy =', lk.crossEntropy(logits, target))
`,
  )
  process.stdout.write(node('check.cjs', { cwd: consumer, env }))
})

step("ESM: import { crossEntropy } from 'losskit'", () => {
  writeFileSync(
    join(consumer, 'check.mjs'),
    `import { crossEntropy, crossEntropyWithGrad, tensor, CrossEntropyLoss } from 'losskit'
import losskit from 'losskit'
const lk = { crossEntropy, crossEntropyWithGrad, tensor, CrossEntropyLoss }
if (losskit.crossEntropy !== crossEntropy) throw new Error('ESM: the default export should be the CommonJS module')
${checks('lk', 'ESM')}
console.log('  ESM ok: crossEntropy =', crossEntropy(logits, target))
`,
  )
  process.stdout.write(node('check.mjs', { cwd: consumer, env }))
})

if (hasAsync) {
  step("async: require('losskit/async') and import from 'losskit/async'", () => {
    writeFileSync(
      join(consumer, 'check-async.cjs'),
      `'use strict'
const lk = require('losskit/async')
${asyncChecks('lk', 'async CJS')}
pending.then((v) => { near(v, ${EXPECTED}, ${TOL_F64}, 'crossEntropy'); console.log('  async CJS ok:', v) })
  .catch((err) => { console.error(err); process.exitCode = 1 })
`,
    )
    writeFileSync(
      join(consumer, 'check-async.mjs'),
      `import * as lk from 'losskit/async'
${asyncChecks('lk', 'async ESM')}
near(await pending, ${EXPECTED}, ${TOL_F64}, 'crossEntropy')
console.log('  async ESM ok:', await pending)
`,
    )
    process.stdout.write(node('check-async.cjs', { cwd: consumer, env }))
    process.stdout.write(node('check-async.mjs', { cwd: consumer, env }))
  })
} else {
  console.log('• async: skipped, notice: async.js is not in the package yet')
}

// Strict TypeScript. Every @ts-expect-error must meet an error, or tsc fails with TS2578.
const tsCheck = (flavor) => `import { crossEntropy, crossEntropyWithGrad, CrossEntropyLoss, MSELoss, tensor, type Tensor } from 'losskit'
${hasAsync ? "import * as lkAsync from 'losskit/async'\n" : ''}
const t: Tensor<Float64Array> = tensor(new Float64Array(${JSON.stringify(LOGITS)}), [2, 3])
const target = new Int32Array([0, 1])
const mean: number = crossEntropy(t, target)
const sum: number = crossEntropy(t, target, { reduction: 'sum', labelSmoothing: 0.1, ignoreIndex: -1 })
const perSample: Tensor<Float64Array> = crossEntropy(t, target, { reduction: 'none' })
const f32: Tensor<Float32Array> = crossEntropy(tensor(new Float32Array(6), [2, 3]), target, { reduction: 'none' })
const withGrad: { loss: number; grad: Tensor<Float64Array> } = crossEntropyWithGrad(t, target)
const viaModule = new CrossEntropyLoss({ reduction: 'mean' }).forward(t, target)
// Modules know their reduction: 'none' gives a Tensor, the others a number.
const moduleMean: number = new CrossEntropyLoss({ ignoreIndex: 1 }).forward(t, target)
const moduleNone: Tensor = new CrossEntropyLoss({ reduction: 'none' }).forward(t, target)
const mseSum: number = new MSELoss({ reduction: 'sum' }).forward(t, t)
export const used = [mean, sum, perSample, f32, withGrad, viaModule, moduleMean, moduleNone, mseSum, '${flavor}']

// @ts-expect-error 'avg' is not a reduction
crossEntropy(t, target, { reduction: 'avg' })
// @ts-expect-error a string is not an input
crossEntropy('logits', target)
// @ts-expect-error an Int32Array is not a float input
crossEntropy(new Int32Array(6), target)
// @ts-expect-error a 'none' result of a Tensor input is a Tensor, not a number
const n: number = crossEntropy(t, target, { reduction: 'none' })
// @ts-expect-error labelSmoothing is a number
crossEntropy(t, target, { labelSmoothing: '0.1' })
// @ts-expect-error a module built with reduction 'none' gives a Tensor, not a number
const moduleN: number = new CrossEntropyLoss({ reduction: 'none' }).forward(t, target)
// @ts-expect-error a module without reduction 'none' gives a number, not a Tensor
const moduleT: Tensor = new MSELoss().forward(t, t)
export const misused = [n, moduleN, moduleT]
${
  hasAsync
    ? `
export const later: Promise<number> = lkAsync.crossEntropy(t, target)
// @ts-expect-error an async result is a Promise, not a number
export const notYet: number = lkAsync.crossEntropy(t, target)
`
    : ''
}`

step('TypeScript: tsc --strict --noEmit on consumer code (nodenext CJS + ESM, bundler)', () => {
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
  if (!existsSync(tsc)) fail(`${tsc} is missing: run \`npm ci\` in the repo`)
  writeFileSync(join(consumer, 'check-ts.cts'), tsCheck('cts'))
  writeFileSync(join(consumer, 'check-ts.mts'), tsCheck('mts'))
  writeFileSync(join(consumer, 'check-bundler.ts'), tsCheck('bundler'))
  // No @types/node in the temp project: the declarations must stand on their own.
  const common = ['--strict', '--noEmit', '--target', 'es2022', '--lib', 'es2022', '--skipLibCheck', 'false']
  const runs = [
    ['--module', 'nodenext', '--moduleResolution', 'nodenext', 'check-ts.cts', 'check-ts.mts'],
    ['--module', 'esnext', '--moduleResolution', 'bundler', 'check-bundler.ts'],
  ]
  for (const args of runs) {
    try {
      run(process.execPath, [tsc, ...common, ...args], { cwd: consumer, env })
    } catch (err) {
      throw new Error(`tsc ${args.join(' ')}:\n${err.stdout}${err.stderr}`)
    }
  }
  console.log(`  tsc ${run(process.execPath, [tsc, '--version'], { env }).trim()}: ok`)
})

// Without the platform package (an install with --omit=optional, or an unsupported
// platform) require must throw a plain Error, not crash. Its message is printed for a look.
step(`without losskit-${abi}: require('losskit') throws`, () => {
  const pkgDir = join(consumer, 'node_modules', `losskit-${abi}`)
  const hidden = `${pkgDir}.hidden`
  renameSync(pkgDir, hidden)
  try {
    writeFileSync(
      join(consumer, 'check-missing.cjs'),
      `'use strict'
try {
  require('losskit')
} catch (err) {
  if (!(err instanceof Error)) throw new Error('not an Error: ' + err)
  const names = err.message.includes(process.platform) || err.message.includes('${abi}')
  console.log('  message: ' + err.message.split('\\n')[0])
  console.log('  names the platform: ' + (names ? 'yes' : 'no (only in err.cause)'))
  process.exit(0)
}
throw new Error('require("losskit") loaded without a native binary')
`,
    )
    process.stdout.write(node('check-missing.cjs', { cwd: consumer, env }))
  } finally {
    renameSync(hidden, pkgDir)
  }
})

finish()

function finish() {
  if (failures.length) {
    console.error(`\npack test FAILED (${failures.length}): ${failures.join('; ')}\n  temp dir kept: ${work}`)
    process.exit(1)
  }
  if (KEEP) console.log(`\npack test passed; temp dir kept: ${work}`)
  else {
    rmSync(work, { recursive: true, force: true })
    console.log('\npack test passed')
  }
  process.exit(0)
}
