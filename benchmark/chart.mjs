// Hand-written SVG chart of the benchmark: throughput (elements/s, log scale)
// against input size (elements, log scale), one line per implementation, one
// panel per workload. No dependency.

const STYLE = {
  'losskit-1t': { color: '#d62728', dash: '6 3', width: 2.5 },
  'losskit-2t': { color: '#d62728', dash: '', width: 3 },
  'losskit-4t': { color: '#8c1a1a', dash: '', width: 3 },
  plainjs: { color: '#2ca02c', dash: '', width: 2 },
  'tfjs-cpu': { color: '#ff7f0e', dash: '', width: 2 },
  'tfjs-wasm': { color: '#9467bd', dash: '', width: 2 },
  'torch-1t': { color: '#1f77b4', dash: '6 3', width: 2 },
  'torch-2t': { color: '#1f77b4', dash: '', width: 2 },
  bound: { color: '#7f7f7f', dash: '2 4', width: 1.5 },
}
const FALLBACK = ['#17becf', '#bcbd22', '#e377c2', '#8c564b']

function esc(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

function si(v) {
  const units = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ]
  for (const [k, u] of units) if (v >= k) return `${+(v / k).toPrecision(3)}${u}`
  return `${+v.toPrecision(3)}`
}

function fmt(v) {
  return +v.toFixed(1)
}

/**
 * panels: [{ title, subtitle?, series: [{ key, label, points: [[elements, elementsPerSecond], …] }] }]
 */
export function renderChart({ title, subtitle, panels, note }) {
  const pw = 470
  const ph = 330
  const m = { l: 64, r: 16, t: 46, b: 48 }
  const gap = 24
  const legendH = 64
  const headH = subtitle ? 50 : 34
  const width = panels.length * (pw + m.l + m.r) + (panels.length - 1) * gap
  const height = headH + m.t + ph + m.b + legendH + (note ? 18 : 0)
  const out = []
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">${esc(title)}</text>`,
  )
  if (subtitle) out.push(`<text x="${width / 2}" y="40" text-anchor="middle" fill="#555">${esc(subtitle)}</text>`)

  const seen = new Map()
  panels.forEach((panel, pi) => {
    const ox = pi * (pw + m.l + m.r + gap) + m.l
    const oy = headH + m.t
    const pts = panel.series.flatMap((s) => s.points).filter(([x, y]) => x > 0 && y > 0 && Number.isFinite(y))
    if (pts.length === 0) return
    const lx0 = Math.floor(Math.log10(Math.min(...pts.map((p) => p[0]))))
    const lx1 = Math.ceil(Math.log10(Math.max(...pts.map((p) => p[0]))))
    const ly0 = Math.floor(Math.log10(Math.min(...pts.map((p) => p[1]))))
    const ly1 = Math.ceil(Math.log10(Math.max(...pts.map((p) => p[1]))))
    const X = (v) => ox + ((Math.log10(v) - lx0) / (lx1 - lx0 || 1)) * pw
    const Y = (v) => oy + ph - ((Math.log10(v) - ly0) / (ly1 - ly0 || 1)) * ph

    out.push(`<text x="${ox + pw / 2}" y="${oy - 24}" text-anchor="middle" font-size="14" font-weight="bold">${esc(panel.title)}</text>`)
    if (panel.subtitle)
      out.push(`<text x="${ox + pw / 2}" y="${oy - 8}" text-anchor="middle" fill="#555" font-size="11">${esc(panel.subtitle)}</text>`)
    out.push(`<rect x="${ox}" y="${oy}" width="${pw}" height="${ph}" fill="#fafafa" stroke="#999"/>`)
    for (let k = lx0; k <= lx1; k++) {
      const x = fmt(X(10 ** k))
      out.push(`<line x1="${x}" y1="${oy}" x2="${x}" y2="${oy + ph}" stroke="#e0e0e0"/>`)
      out.push(`<text x="${x}" y="${oy + ph + 16}" text-anchor="middle">${si(10 ** k)}</text>`)
    }
    for (let k = ly0; k <= ly1; k++) {
      const y = fmt(Y(10 ** k))
      out.push(`<line x1="${ox}" y1="${y}" x2="${ox + pw}" y2="${y}" stroke="#e0e0e0"/>`)
      out.push(`<text x="${ox - 6}" y="${y + 4}" text-anchor="end">${si(10 ** k)}/s</text>`)
    }
    out.push(`<text x="${ox + pw / 2}" y="${oy + ph + 36}" text-anchor="middle" fill="#333">${esc(panel.xLabel ?? 'elements')}</text>`)
    out.push(
      `<text transform="translate(${ox - 50} ${oy + ph / 2}) rotate(-90)" text-anchor="middle" fill="#333">${esc(panel.yLabel ?? 'elements / s (higher is better)')}</text>`,
    )

    let extra = 0
    for (const s of panel.series) {
      const p = s.points.filter(([x, y]) => x > 0 && y > 0 && Number.isFinite(y)).sort((a, b) => a[0] - b[0])
      if (p.length === 0) continue
      const st = STYLE[s.key] ?? { color: FALLBACK[extra++ % FALLBACK.length], dash: '', width: 2 }
      seen.set(s.key, { label: s.label, ...st })
      const d = p.map(([x, y], i) => `${i ? 'L' : 'M'}${fmt(X(x))},${fmt(Y(y))}`).join(' ')
      out.push(
        `<path d="${d}" fill="none" stroke="${st.color}" stroke-width="${st.width}"${st.dash ? ` stroke-dasharray="${st.dash}"` : ''}/>`,
      )
      if (s.key !== 'bound') {
        for (const [x, y] of p) out.push(`<circle cx="${fmt(X(x))}" cy="${fmt(Y(y))}" r="3" fill="${st.color}"/>`)
      }
    }
  })

  // legend
  const entries = [...seen.values()]
  const perRow = Math.max(1, Math.floor(width / 190))
  const ly = headH + m.t + ph + m.b + 8
  entries.forEach((e, i) => {
    const x = 20 + (i % perRow) * 190
    const y = ly + Math.floor(i / perRow) * 22
    out.push(
      `<line x1="${x}" y1="${y}" x2="${x + 30}" y2="${y}" stroke="${e.color}" stroke-width="${e.width}"${e.dash ? ` stroke-dasharray="${e.dash}"` : ''}/>`,
      `<text x="${x + 36}" y="${y + 4}">${esc(e.label)}</text>`,
    )
  })
  if (note) out.push(`<text x="20" y="${height - 8}" fill="#555" font-size="11">${esc(note)}</text>`)
  out.push('</svg>')
  return `${out.join('\n')}\n`
}
