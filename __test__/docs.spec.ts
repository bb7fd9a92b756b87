// Every TSDoc example of a declared loss is a claim checked against PyTorch: the
// arrays it passes must be the inputs of the fixture case named "doc example"
// (made by fixtures/generate.py with real torch), and the number it prints must
// be that case's expected loss, to the digits shown. The example is read from
// the shipped index.d.ts, so what users read is what is checked.

import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import test from 'ava'
import * as L from 'losskit'
import { FIXTURE_DIR, type LossCase, loadFixtures, TEST_DIR } from './_util.js'

const dts = readFileSync(join(TEST_DIR, '..', 'index.d.ts'), 'utf8')
const snake = (name: string): string => name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase()

/** The ```ts block of the TSDoc right above `export declare const <name>:` (or its first `function` overload). */
function exampleOf(name: string): string | undefined {
  let at = dts.indexOf(`export declare const ${name}:`)
  if (at < 0) at = dts.search(new RegExp(`export declare function ${name}[<(]`))
  if (at < 0) return undefined
  const doc = dts.slice(dts.lastIndexOf('/**', at), at)
  const m = /```ts\n([\s\S]*?)```/.exec(doc)
  return m?.[1].replace(/^\s*\* ?/gm, '')
}

for (const name of Object.keys(L.__impl.losses)) {
  const fixture = snake(name)
  if (!existsSync(join(FIXTURE_DIR, `${fixture}.json`))) continue
  const docCase = loadFixtures<LossCase>(fixture).cases.find((c) => c.name === 'doc example')
  if (!docCase) continue
  test(`${name}: the TSDoc example's arrays and value are PyTorch's (fixtures/${fixture}.json "doc example")`, (t) => {
    const ex = exampleOf(name)
    if (ex === undefined) {
      t.fail(`index.d.ts has no example for ${name}`)
      return
    }
    const arrays = [...ex.matchAll(/new (?:Float32|Float64|Int32|BigInt64)Array\(\[([^\]]*)\]\)/g)].map((m) =>
      m[1].split(',').map((v) => Number(v.trim().replace(/n$/, ''))),
    )
    const args = (docCase as unknown as { args?: { data: number[]; kind: string }[] }).args
    // plain numbers (kind 'number', e.g. CTC's lengths of one sample) are not arrays in the example
    const expectedArrays = args ? args.filter((a) => a.kind !== 'number').map((a) => a.data) : [docCase.input.data, docCase.target.data]
    if (docCase.variance !== undefined)
      expectedArrays.push(typeof docCase.variance === 'number' ? [docCase.variance] : docCase.variance.data)
    t.deepEqual(arrays, expectedArrays, `${name}: the example's arrays`)
    const shown = /\/\/ ≈? ?(-?[0-9.]+(?:e-?[0-9]+)?)\s*$/m.exec(ex)
    if (!shown) {
      t.fail(`${name}: the example shows no value`)
      return
    }
    const decimals = (shown[1].split('.')[1] ?? '').length
    const expected = docCase.expected?.loss as number
    t.true(
      Math.abs(Number(shown[1]) - expected) <= 0.5 * 10 ** -decimals + 1e-12,
      `${name}: the example shows ${shown[1]}, PyTorch says ${expected}`,
    )
  })
}

// The class losses and the helpers have no declared-loss fixture: their examples'
// arrays and values are in fixtures/doc_examples.json (generate.py, real torch).
/** The numbers of every typed array literal in `src`, and the last value it shows (`// ≈ v` or `≈ v`). */
function literals(src: string): { arrays: number[][]; shown: string | undefined } {
  const arrays = [...src.matchAll(/new (?:Float32|Float64|Int32|BigInt64)Array\(\[([^\]]*)\]\)/g)].map((m) =>
    m[1].split(',').map((v) => Number(v.trim().replace(/n$/, ''))),
  )
  const shown = [...src.matchAll(/≈ ?(-?[0-9]+\.[0-9]+)/g)].pop()?.[1]
  return { arrays, shown }
}

function closeTo(shown: string, value: number): boolean {
  const decimals = (shown.split('.')[1] ?? '').length
  return Math.abs(Number(shown) - value) <= 0.5 * 10 ** -decimals + 1e-12
}

const docExamples = loadFixtures<{ fn: string; arrays: number[][]; value: number }>('doc_examples').cases
for (const c of docExamples) {
  test(`${c.fn}: the TSDoc example's arrays and value are PyTorch's (fixtures/doc_examples.json)`, (t) => {
    const ex = exampleOf(c.fn)
    if (ex === undefined) {
      t.fail(`index.d.ts has no example for ${c.fn}`)
      return
    }
    const { arrays, shown } = literals(ex)
    t.deepEqual(arrays, c.arrays, `${c.fn}: the example's arrays`)
    t.truthy(shown, `${c.fn}: the example shows no value`)
    if (shown) t.true(closeTo(shown, c.value), `${c.fn}: the example shows ${shown}, PyTorch says ${c.value}`)
  })
}

test("the README's first example: crossEntropyWithGrad's arrays and loss are PyTorch's (fixtures/doc_examples.json)", (t) => {
  const readme = readFileSync(join(TEST_DIR, '..', 'README.md'), 'utf8')
  const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1] ?? ''
  const ce = docExamples.find((c) => c.fn === 'crossEntropy')
  if (!ce) {
    t.fail('doc_examples.json has no crossEntropy case')
    return
  }
  const { arrays, shown } = literals(block)
  t.deepEqual(arrays, ce.arrays, "the README example's arrays")
  t.truthy(shown, 'the README example shows no loss')
  if (shown) t.true(closeTo(shown, ce.value), `the README shows ${shown}, PyTorch says ${ce.value}`)
})
