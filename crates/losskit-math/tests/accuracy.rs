//! Accuracy of the float32 `exp`, `ln` and `ln_1p` against `f64`, on every
//! instruction-set path this machine has, over their whole ranges and at
//! special values; and agreement of every kernel with the portable path.

use losskit_math::lanes::Loss;
use losskit_math::simd::{available, kernels_for, Isa, Kernels};

/// The bound the docs state.
const MAX_ULP: f64 = 2.0;

/// Spacing of float32 numbers at `r` (subnormal spacing below MIN_POSITIVE).
fn ulp(r: f64) -> f64 {
    let a = r.abs();
    if a < f64::from(f32::MIN_POSITIVE) {
        return 2f64.powi(-149);
    }
    let e = a.log2().floor() as i32;
    2f64.powi(e - 23)
}

/// Worst error in ULPs of `f` over `xs`, against `reference`, with the input
/// where it happens. Both must agree on non-finite results.
fn worst(
    name: &str,
    isa: Isa,
    xs: &[f32],
    f: fn(&[f32], &mut [f32]),
    reference: fn(f64) -> f64,
) -> (f64, f32) {
    let mut out = vec![0.0f32; xs.len()];
    f(xs, &mut out);
    let mut w = (0.0, 0.0f32);
    for (&x, &y) in xs.iter().zip(&out) {
        let r = reference(f64::from(x));
        let rf = r as f32;
        if !rf.is_finite() || rf == 0.0 {
            // Overflow, underflow to zero, NaN: must match the rounded reference,
            // or be within 2 ULP of the smallest subnormal.
            let ok = (rf.is_nan() && y.is_nan())
                || rf == y
                || (rf == 0.0 && f64::from(y).abs() <= 2.0 * 2f64.powi(-149))
                || (rf.is_infinite() && y.is_infinite() && rf.signum() == y.signum());
            assert!(ok, "{name} [{}]: f({x:e}) = {y:e}, expected {rf:e}", isa.name());
            continue;
        }
        let e = (f64::from(y) - r).abs() / ulp(r);
        if e > w.0 || e.is_nan() {
            w = (e, x);
        }
    }
    w
}

fn sweep(lo_bits: u32, hi_bits: u32, step: u32, negative: bool) -> Vec<f32> {
    let mut v = Vec::new();
    let mut b = lo_bits;
    while b <= hi_bits {
        let x = f32::from_bits(b);
        v.push(if negative { -x } else { x });
        b = match b.checked_add(step) {
            Some(n) => n,
            None => break,
        };
    }
    v
}

fn paths() -> Vec<(Isa, &'static Kernels)> {
    available().into_iter().map(|i| (i, kernels_for(i).unwrap())).collect()
}

#[test]
fn exp_within_2_ulp_everywhere() {
    // Every 61st float in [-104, 89] (both signs), plus the edges exactly.
    let mut xs = sweep(0, 89f32.to_bits(), 61, false);
    xs.extend(sweep(0, 104f32.to_bits(), 61, true));
    xs.extend([
        88.72283, 88.72284, 88.7229, -87.33654, -103.97207, -103.97208, -104.0, 0.0, -0.0, 1e-30, -1e-30,
    ]);
    for (isa, k) in paths() {
        let (e, at) = worst("exp", isa, &xs, k.exp, f64::exp);
        println!("exp [{}]: max error {e:.3} ULP at x = {at:e}", isa.name());
        assert!(e <= MAX_ULP, "exp [{}]: {e} ULP at {at:e}", isa.name());
    }
}

#[test]
fn ln_within_2_ulp_everywhere() {
    // Every 97th positive float, subnormals and the largest finite included.
    let mut xs = sweep(1, f32::MAX.to_bits(), 97, false);
    xs.extend([
        f32::MIN_POSITIVE,
        f32::MAX,
        1.0,
        2.0,
        0.5,
        std::f32::consts::SQRT_2,
        1.0 - f32::EPSILON,
        1.0 + f32::EPSILON,
    ]);
    for (isa, k) in paths() {
        let (e, at) = worst("ln", isa, &xs, k.ln, f64::ln);
        println!("ln [{}]: max error {e:.3} ULP at x = {at:e}", isa.name());
        assert!(e <= MAX_ULP, "ln [{}]: {e} ULP at {at:e}", isa.name());
    }
}

#[test]
fn ln_1p_within_2_ulp_everywhere() {
    let mut xs = sweep(1, f32::MAX.to_bits(), 97, false);
    xs.extend(sweep(1, 1f32.to_bits() - 1, 97, true)); // (-1, 0)
    xs.extend([-0.5, 1e-7, -1e-7, 1e-30, -1e-30, f32::EPSILON, -f32::EPSILON / 2.0]);
    for (isa, k) in paths() {
        let (e, at) = worst("ln_1p", isa, &xs, k.ln_1p, f64::ln_1p);
        println!("ln_1p [{}]: max error {e:.3} ULP at x = {at:e}", isa.name());
        assert!(e <= MAX_ULP, "ln_1p [{}]: {e} ULP at {at:e}", isa.name());
    }
}

#[test]
fn special_values() {
    let xs = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, -1.0, 1.0];
    for (isa, k) in paths() {
        let mut o = [0.0f32; 7];
        (k.exp)(&xs, &mut o);
        assert!(
            o[0].is_nan() && o[1] == f32::INFINITY && o[2] == 0.0 && o[3] == 1.0 && o[4] == 1.0,
            "exp [{}] {o:?}",
            isa.name()
        );
        (k.ln)(&xs, &mut o);
        assert!(o[0].is_nan() && o[1] == f32::INFINITY && o[2].is_nan(), "ln [{}] {o:?}", isa.name());
        assert!(
            o[3] == f32::NEG_INFINITY && o[4] == f32::NEG_INFINITY && o[5].is_nan() && o[6] == 0.0,
            "ln [{}] {o:?}",
            isa.name()
        );
        (k.ln_1p)(&xs, &mut o);
        assert!(
            o[0].is_nan() && o[1] == f32::INFINITY && o[2].is_nan() && o[3] == 0.0,
            "ln_1p [{}] {o:?}",
            isa.name()
        );
        assert!(o[5] == f32::NEG_INFINITY, "ln_1p(-1) [{}] {o:?}", isa.name());
        // Subnormal and overflow edges.
        let ys = [-100.0f32, -103.9, 88.72283, 88.7229];
        let mut p = [0.0f32; 4];
        (k.exp)(&ys, &mut p);
        assert!(
            p[0] > 0.0 && p[1] > 0.0 && p[2].is_finite() && p[3] == f32::INFINITY,
            "exp edges [{}] {p:?}",
            isa.name()
        );
    }
}

fn data(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 8) as f32 / 16_777_216.0
        })
        .collect()
}

fn close(a: f64, b: f64, rtol: f64) -> bool {
    (a - b).abs() <= rtol * b.abs().max(1e-30) || (a.is_nan() && b.is_nan()) || a == b
}

#[test]
/// Every path the CPU has — the portable one included, the only one on arm64 —
/// against float64 references computed here (not against another path).
fn kernels_agree_with_f64_reference() {
    let p = kernels_for(Isa::Portable).unwrap();
    let n = 3001; // not a multiple of any lane count
    let x: Vec<f32> = data(n, 1).iter().map(|v| 20.0 * v - 10.0).collect();
    let u = data(n, 2); // [0, 1)
    let probs: Vec<f32> = u.iter().map(|v| 0.001 + 0.998 * v).collect();
    #[cfg(target_arch = "x86_64")]
    avx512_here("kernels_agree_with_f64_reference (avx512 path)");
    for (isa, k) in paths() {
        let name = isa.name();
        let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        assert_eq!((k.max)(&x), m, "max [{name}]");
        let se: f64 = x.iter().map(|&v| f64::from(v - m).exp()).sum();
        assert!(close((k.sum_exp)(&x, m, std::ptr::null()), se, 1e-6), "sum_exp [{name}]");
        assert!(close((k.sum_exp)(&x, m, x.as_ptr()), se, 1e-6), "sum_exp with prefetch [{name}]");
        // Gradient rows, with and without the label-smoothing term, and in place.
        let w = data(n, 3);
        for bw in [None, Some((0.25f32, w.as_ptr()))] {
            let mut g1 = vec![0.0; n];
            let mut g2 = vec![0.0; n];
            let mut g3 = x.clone();
            // SAFETY: buffers of length n; g3 is the input itself, as the contract allows.
            unsafe {
                (k.exp_scale)(x.as_ptr(), g1.as_mut_ptr(), n, m, 0.5, bw);
                (p.exp_scale)(x.as_ptr(), g2.as_mut_ptr(), n, m, 0.5, bw);
                (k.exp_scale)(g3.as_ptr(), g3.as_mut_ptr(), n, m, 0.5, bw);
            }
            for i in 0..n {
                let at = format!("exp_scale[{i}] (smoothing {}) [{name}]", bw.is_some());
                // Errors relative to the terms' size (a·e - b·w may cancel).
                let ae = 0.5 * f64::from(x[i] - m).exp(); // x - m rounds in f32, as in PyTorch
                let bwi = bw.map_or(0.0, |(b, _)| f64::from(b * w[i]));
                let tol = 1e-6 * (ae + bwi.abs()) + 1e-30;
                assert!((f64::from(g1[i]) - (ae - bwi)).abs() <= tol, "{at}: {} vs {}", g1[i], ae - bwi);
                assert!((f64::from(g2[i]) - (ae - bwi)).abs() <= tol, "{at}: the portable path");
                assert_eq!(g1[i].to_bits(), g3[i].to_bits(), "{at}: in place");
            }
        }
        // Short-row tiles: every row count and a few row lengths (the AVX-512
        // path transposes with gathers, the others with scalar moves).
        for c in [1usize, 2, 10, 17, 32] {
            for rows in 1..=16usize {
                let tile = &x[..rows * c];
                let mut r = Vec::new();
                for k in [k, p] {
                    // NaN everywhere first: every lane the kernel must write is checked below.
                    let (mut e, mut m, mut s, mut l) =
                        (vec![f32::NAN; 32 * 16], [f32::NAN; 16], [f32::NAN; 16], [f32::NAN; 16]);
                    // SAFETY: tile holds rows * c values; the outputs are as large as the contract asks.
                    unsafe {
                        (k.small_stats)(
                            tile.as_ptr(),
                            rows,
                            c,
                            e.as_mut_ptr(),
                            m.as_mut_ptr(),
                            s.as_mut_ptr(),
                            l.as_mut_ptr(),
                        );
                    }
                    r.push((e, m, s, l));
                }
                let ((e1, m1, s1, l1), (e2, _, _, _)) = (&r[0], &r[1]);
                // Lanes past `rows` (read by the gradient kernel) hold a zero row.
                for i in rows..16 {
                    let at = format!("small_stats c={c} rows={rows} padding lane {i} [{name}]");
                    assert!(m1[i] == 0.0 && s1[i] == c as f32 && l1[i].is_finite(), "{at}");
                    for kk in 0..c {
                        assert_eq!(e1[kk * 16 + i], 1.0, "exp[{kk}], {at}");
                    }
                }
                for i in 0..rows {
                    let at = format!("small_stats c={c} rows={rows} row {i} [{name}]");
                    let row = &tile[i * c..(i + 1) * c];
                    let rm = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let rs: f64 = row.iter().map(|&v| f64::from(v - rm).exp()).sum();
                    assert_eq!(m1[i], rm, "max, {at}");
                    assert!(close(f64::from(s1[i]), rs, 1e-6), "sum, {at}");
                    // ln of the kernel's own float32 sum (its error is the sum's, checked above).
                    let ls = f64::from(s1[i]).ln();
                    assert!(
                        close(f64::from(l1[i]), ls, 1e-6) || (f64::from(l1[i]) - ls).abs() < 2.5e-7,
                        "ln sum, {at}"
                    );
                    for kk in 0..c {
                        let want = f64::from(row[kk] - rm).exp();
                        assert!(close(f64::from(e1[kk * 16 + i]), want, 3e-7), "exp[{kk}], {at}");
                        assert!(close(f64::from(e2[kk * 16 + i]), want, 3e-7), "exp[{kk}] portable, {at}");
                    }
                }
            }
        }
        for (loss, t) in [(Loss::Kl, &u), (Loss::KlLogTarget, &x), (Loss::Bce, &u), (Loss::BceLogits, &u)] {
            let xin = if loss == Loss::Bce { &probs } else { &x };
            let (mut o1, mut o2, mut d1, mut d2) = (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
            // SAFETY: buffers of length n.
            let (a, b) = unsafe {
                (
                    (k.elementwise[1][1])(
                        loss,
                        xin.as_ptr(),
                        t.as_ptr(),
                        n,
                        o1.as_mut_ptr(),
                        d1.as_mut_ptr(),
                        0.5,
                    ),
                    (p.elementwise[1][1])(
                        loss,
                        xin.as_ptr(),
                        t.as_ptr(),
                        n,
                        o2.as_mut_ptr(),
                        d2.as_mut_ptr(),
                        0.5,
                    ),
                )
            };
            // The float64 reference of each loss and its gradient (scale 0.5).
            let reference = |xi: f64, ti: f64| -> (f64, f64) {
                match loss {
                    Loss::Kl => (if ti == 0.0 { 0.0 } else { ti * ti.ln() } - ti * xi, -ti),
                    Loss::KlLogTarget => (ti.exp() * (ti - xi), -ti.exp()),
                    Loss::Bce => (
                        -(ti * xi.ln().max(-100.0) + (1.0 - ti) * (-xi).ln_1p().max(-100.0)),
                        (xi - ti) / (xi * (1.0 - xi)).max(f64::from(1e-12_f32)),
                    ),
                    Loss::BceLogits => {
                        let mx = (-xi).max(0.0);
                        (
                            (1.0 - ti) * xi + mx + ((-mx).exp() + (-xi - mx).exp()).ln(),
                            1.0 / (1.0 + (-xi).exp()) - ti,
                        )
                    }
                }
            };
            let mut sum = 0.0;
            for i in 0..n {
                let (l, g) = reference(f64::from(xin[i]), f64::from(t[i]));
                sum += l;
                for (o, d, which) in [(o1[i], d1[i], name), (o2[i], d2[i], "portable")] {
                    assert!(
                        close(f64::from(o), l, 1e-5) || (f64::from(o) - l).abs() < 1e-6,
                        "{loss:?} out[{i}] [{which}]: {o} vs {l}"
                    );
                    assert!(
                        close(f64::from(d), 0.5 * g, 1e-5) || (f64::from(d) - 0.5 * g).abs() < 1e-6,
                        "{loss:?} grad[{i}] [{which}]: {d} vs {}",
                        0.5 * g
                    );
                }
            }
            assert!(close(a, sum, 1e-5), "{loss:?} sum [{name}]: {a} vs {sum}");
            assert!(close(b, sum, 1e-5), "{loss:?} sum [portable]: {b} vs {sum}");
        }
    }
}

#[test]
fn ln_1_2_matches_ln_on_its_domain() {
    // Every 3rd float in [1, 2]: the specialised ln of BCE-with-logits.
    let xs = sweep(1f32.to_bits(), 2f32.to_bits(), 3, false);
    let mut worst = 0.0f64;
    for &x in &xs {
        let y = losskit_math::lanes::ln_1_2::<true>(x);
        let r = f64::from(x).ln();
        worst = worst.max((f64::from(y) - r).abs() / ulp(r.max(1e-30)));
    }
    println!("ln_1_2: max error {worst:.3} ULP over all of [1, 2]");
    assert!(worst <= MAX_ULP);
    assert!(losskit_math::lanes::ln_1_2::<true>(f32::NAN).is_nan());
    assert_eq!(losskit_math::lanes::ln_1_2::<true>(1.0), 0.0);
}

#[test]
fn exp_neg_and_ln_1m_within_2_ulp() {
    use losskit_math::lanes::{exp_neg, ln_1m};
    // exp_neg on every 7th float of [EXP_NEG_LO, 0] and on the floats next to
    // the flush threshold; flushed (0) below it.
    let lo = losskit_math::lanes::EXP_NEG_LO;
    let mut worst = (0.0f64, 0.0f32);
    let mut xs = sweep(0, (-lo).to_bits(), 7, true);
    xs.extend(sweep((-lo).to_bits() - 64, (-lo).to_bits(), 1, true));
    for x in xs {
        for y in [exp_neg::<true>(x), exp_neg::<false>(x)] {
            let r = f64::from(x).exp();
            let e = (f64::from(y) - r).abs() / ulp(r);
            if e > worst.0 {
                worst = (e, x);
            }
        }
    }
    println!("exp_neg: max error {:.3} ULP at x = {:e}", worst.0, worst.1);
    assert!(worst.0 <= MAX_ULP);
    for x in sweep((-lo).to_bits() + 1, (-lo).to_bits() + 4096, 1, true) {
        assert_eq!(exp_neg::<true>(x), 0.0, "flush at {x}");
    }
    assert_eq!(exp_neg::<true>(f32::NEG_INFINITY), 0.0);
    assert_eq!(exp_neg::<true>(-100.0), 0.0);
    assert!(exp_neg::<true>(f32::NAN).is_nan());
    assert_eq!(exp_neg::<true>(0.0), 1.0);
    // ln_1m on every 13th float of [0, 1].
    let mut worst = (0.0f64, 0.0f32);
    for x in sweep(0, 1f32.to_bits() - 1, 13, false) {
        for y in [ln_1m::<true>(x), ln_1m::<false>(x)] {
            let r = (-f64::from(x)).ln_1p();
            let e = if r == 0.0 {
                f64::from(y).abs() / 2f64.powi(-149)
            } else {
                (f64::from(y) - r).abs() / ulp(r)
            };
            if e > worst.0 {
                worst = (e, x);
            }
        }
    }
    println!("ln_1m: max error {:.3} ULP at x = {:e}", worst.0, worst.1);
    assert!(worst.0 <= MAX_ULP);
    assert_eq!(ln_1m::<true>(1.0), f32::NEG_INFINITY);
    assert!(ln_1m::<true>(f32::NAN).is_nan());
}

#[test]
fn unit_interval_logs_agree_with_the_general_ones() {
    use losskit_math::lanes::{ln, ln_1m, ln_1m_unit, ln_unit};
    // On (0, 1] the special-case-free forms are the general ones, bit for bit;
    // at the ends they stay below BCE's −100 clamp instead of reaching −inf.
    for x in sweep(1, 1f32.to_bits(), 31, false) {
        assert_eq!(ln_unit::<true>(x).to_bits(), ln::<true>(x).to_bits(), "ln_unit({x:e})");
        assert_eq!(ln_unit::<false>(x).to_bits(), ln::<false>(x).to_bits(), "ln_unit({x:e})");
    }
    for x in sweep(0, 1f32.to_bits() - 1, 31, false) {
        assert_eq!(ln_1m_unit::<true>(x).to_bits(), ln_1m::<true>(x).to_bits(), "ln_1m_unit({x:e})");
    }
    assert!(ln_unit::<true>(0.0) < -100.0 && ln_unit::<true>(0.0).is_finite());
    assert!(ln_1m_unit::<true>(1.0) < -100.0 && ln_1m_unit::<true>(1.0).is_finite());
}

/// Whether the AVX-512 path can be tested here. A CPU without it skips those
/// tests, saying so; with `LOSSKIT_REQUIRE_AVX512` set (as `.ci/run` sets it on
/// a CPU that has AVX-512F) a skip is a failure, so a detection bug cannot
/// hide the path from its tests.
#[cfg(target_arch = "x86_64")]
fn avx512_here(what: &str) -> bool {
    if available().contains(&Isa::Avx512) {
        return true;
    }
    assert!(
        std::env::var_os("LOSSKIT_REQUIRE_AVX512").is_none(),
        "{what}: AVX-512 required but not available"
    );
    println!("{what}: this CPU has no AVX-512F, not run");
    false
}

/// Worst ULP error of `f` against `reference` over the floats with bit
/// patterns `lo, lo + step, … ≤ hi`, a million at a time.
#[cfg(target_arch = "x86_64")]
fn worst_swept(
    lo: u32,
    hi: u32,
    step: u32,
    f: fn(&[f32], &mut [f32]),
    reference: fn(f64) -> f64,
) -> (f64, f32) {
    let mut w = (0.0f64, 0.0f32);
    let (mut xs, mut out) = (Vec::with_capacity(1 << 20), vec![0.0f32; 1 << 20]);
    let mut b = u64::from(lo);
    while b <= u64::from(hi) {
        xs.clear();
        while xs.len() < 1 << 20 && b <= u64::from(hi) {
            #[allow(clippy::cast_possible_truncation)]
            xs.push(f32::from_bits(b as u32));
            b += u64::from(step);
        }
        f(&xs, &mut out[..xs.len()]);
        for (&x, &y) in xs.iter().zip(&out) {
            let r = reference(f64::from(x));
            let e = if r == 0.0 {
                f64::from(y).abs() / 2f64.powi(-149)
            } else {
                (f64::from(y) - r).abs() / ulp(r)
            };
            if e > w.0 || e.is_nan() {
                w = (e, x);
            }
        }
    }
    w
}

#[cfg(target_arch = "x86_64")]
#[test]
fn avx512_table_logs_within_2_ulp() {
    use losskit_math::avx512;
    if !avx512_here("avx512 table logs") {
        return;
    }
    // SAFETY: AVX-512F checked above.
    let ln: fn(&[f32], &mut [f32]) = |x, o| unsafe { avx512::apply(avx512::Op::Ln, x, o) };
    // SAFETY: as above.
    let ln_1m: fn(&[f32], &mut [f32]) = |x, o| unsafe { avx512::apply(avx512::Op::Ln1m, x, o) };
    // Every 5th float of (0, 1] (BCE's domain, subnormals included), every 97th
    // above it up to the largest finite, and a few exact points.
    let mut e = worst_swept(1, 1f32.to_bits(), 5, ln, f64::ln);
    for w in [
        worst_swept(1f32.to_bits(), f32::MAX.to_bits(), 97, ln, f64::ln),
        worst(
            "ln (avx512 table)",
            Isa::Avx512,
            &[f32::MIN_POSITIVE, 1.0, 0.75, 1.5, 0.5, 1.0 - f32::EPSILON / 2.0],
            ln,
            f64::ln,
        ),
    ] {
        if w.0 > e.0 || w.0.is_nan() {
            e = w;
        }
    }
    println!("ln (avx512 table): max error {:.3} ULP at x = {:e}", e.0, e.1);
    assert!(e.0 <= MAX_ULP, "ln (avx512 table): {} ULP at {:e}", e.0, e.1);
    let mut y = [0.0f32; 2];
    ln(&[0.0, -0.0], &mut y);
    for v in y {
        assert!(v < -100.0 && v.is_finite(), "ln ±0 = {v}: must stay below BCE's clamp");
    }
    // ln(1 - x) on every 5th float of [0, 1).
    let w = worst_swept(0, 1f32.to_bits() - 1, 5, ln_1m, |x| (-x).ln_1p());
    println!("ln(1 - x) (avx512 table): max error {:.3} ULP at x = {:e}", w.0, w.1);
    assert!(w.0 <= MAX_ULP, "ln(1 - x) (avx512 table): {} ULP at {:e}", w.0, w.1);
    ln_1m(&[1.0, 1.0], &mut y);
    assert!(y[0] < -100.0 && y[0].is_finite(), "ln(1 - 1) = {}", y[0]);
}

#[test]
fn bce_kernel_marks_out_of_range_inputs_nan() {
    // The forward pass of BCE checks the range inside its kernel: any x or t
    // outside [0, 1], or NaN, must make the sum NaN on every path, wherever it
    // sits (full vectors and the tail); in-range inputs, ends included, must not.
    let n = 1000; // a tail on every lane count
    let ok_x: Vec<f32> = data(n, 5);
    let ok_t: Vec<f32> = data(n, 6);
    for (isa, k) in paths() {
        let name = isa.name();
        let f = k.elementwise[0][0];
        let mut x = ok_x.clone();
        let mut t = ok_t.clone();
        x[0] = 0.0;
        x[1] = 1.0;
        t[2] = 0.0;
        t[3] = 1.0;
        x[4] = -0.0;
        // SAFETY: buffers of length n; no outputs.
        let s = unsafe {
            f(Loss::Bce, x.as_ptr(), t.as_ptr(), n, std::ptr::null_mut(), std::ptr::null_mut(), 1.0)
        };
        assert!(s.is_finite(), "in-range inputs [{name}]: {s}");
        for at in [0usize, 7, 16, 500, 998, 999] {
            for bad in [-1e-30f32, 1.000_000_1, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 2.0] {
                for in_target in [false, true] {
                    let (mut x, mut t) = (ok_x.clone(), ok_t.clone());
                    if in_target {
                        t[at] = bad;
                    } else {
                        x[at] = bad;
                    }
                    // SAFETY: as above.
                    let s = unsafe {
                        f(
                            Loss::Bce,
                            x.as_ptr(),
                            t.as_ptr(),
                            n,
                            std::ptr::null_mut(),
                            std::ptr::null_mut(),
                            1.0,
                        )
                    };
                    assert!(
                        s.is_nan(),
                        "{} [{at}] = {bad} [{name}]: sum {s}",
                        if in_target { "t" } else { "x" }
                    );
                }
            }
        }
    }
}

#[test]
fn sigmoid_within_3_ulp_everywhere() {
    // Every 97th float of both signs, infinities and the ends of the range.
    let mut xs = sweep(0, f32::MAX.to_bits(), 97, false);
    xs.extend(sweep(1, f32::MAX.to_bits(), 97, true));
    xs.extend([f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, -87.0, -88.7, -103.0, -104.0, 16.7, 17.0]);
    for (isa, k) in paths() {
        let (e, at) = worst("sigmoid", isa, &xs, k.sigmoid, |x| 1.0 / (1.0 + (-x).exp()));
        println!("sigmoid [{}]: max error {e:.3} ULP at x = {at:e}", isa.name());
        assert!(e <= 3.0, "sigmoid [{}]: {e} ULP at {at:e}", isa.name());
        let mut y = [0.0f32; 1];
        (k.sigmoid)(&[f32::NAN], &mut y);
        assert!(y[0].is_nan(), "sigmoid(NaN) [{}]", isa.name());
    }
}

#[test]
fn nan_payloads_stay_nan() {
    // A NaN is a NaN whatever its payload bits (data from files, wasm or GPU
    // code can carry any): the exp kernels must not turn one into a number.
    use losskit_math::lanes::exp_neg;
    let nans: Vec<f32> =
        [0x7fc0_0001u32, 0x7fc0_ffff, 0x7f80_0001, 0xffff_ffff, 0xffc0_0001, 0x7fff_ffff, 0x7fc0_0000]
            .iter()
            .map(|&b| f32::from_bits(b))
            .collect();
    for &v in &nans {
        assert!(exp_neg::<true>(v).is_nan() && exp_neg::<false>(v).is_nan(), "exp_neg({:#x})", v.to_bits());
    }
    for (isa, k) in paths() {
        let name = isa.name();
        for &v in &nans {
            for (n, at) in [(100usize, 37usize), (10, 3), (1, 0)] {
                let mut x: Vec<f32> = data(n, 9).iter().map(|u| 4.0 * u - 2.0).collect();
                x[at] = v;
                let m = 2.0;
                let s = (k.sum_exp)(&x, m, std::ptr::null());
                assert!(s.is_nan(), "sum_exp with {:#x} at {at} of {n} [{name}]: {s}", v.to_bits());
                let mut g = vec![0.0f32; n];
                // SAFETY: buffers of length n.
                unsafe { (k.exp_scale)(x.as_ptr(), g.as_mut_ptr(), n, m, 0.5, None) };
                assert!(g[at].is_nan(), "exp_scale with {:#x} at {at} of {n} [{name}]", v.to_bits());
                let mut y = vec![0.0f32; n];
                (k.sigmoid)(&x, &mut y);
                assert!(y[at].is_nan(), "sigmoid with {:#x} [{name}]", v.to_bits());
                if n <= 32 {
                    let (mut e, mut mm, mut ss, mut l) =
                        (vec![0.0f32; 32 * 16], [0.0f32; 16], [0.0f32; 16], [0.0f32; 16]);
                    // SAFETY: one row of n ≤ 32 values; outputs as the contract asks.
                    unsafe {
                        (k.small_stats)(
                            x.as_ptr(),
                            1,
                            n,
                            e.as_mut_ptr(),
                            mm.as_mut_ptr(),
                            ss.as_mut_ptr(),
                            l.as_mut_ptr(),
                        );
                    }
                    assert!(ss[0].is_nan(), "small_stats with {:#x} at {at} of {n} [{name}]", v.to_bits());
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn avx512_table_exp_within_2_ulp() {
    use losskit_math::avx512;
    use losskit_math::lanes::EXP_NEG_LO;
    if !avx512_here("avx512 table exp") {
        return;
    }
    // SAFETY: AVX-512F checked above.
    let f: fn(&[f32], &mut [f32]) = |x, o| unsafe { avx512::apply(avx512::Op::ExpNeg, x, o) };
    // Every float of [EXP_NEG_LO, 0] with a step of 3, both ends included.
    let lo = (-EXP_NEG_LO).to_bits();
    // The sweep runs over |x|; this negates it on the way in.
    let g: fn(&[f32], &mut [f32]) = |x, o| {
        let neg: Vec<f32> = x.iter().map(|v| -v).collect();
        // SAFETY: AVX-512F checked above.
        unsafe { avx512::apply(avx512::Op::ExpNeg, &neg, o) };
    };
    let mut e = worst_swept(0, lo, 3, g, |x| (-x).exp());
    let ends = worst(
        "exp (avx512 table)",
        Isa::Avx512,
        &[-0.0, 0.0, EXP_NEG_LO, -1e-30, -1e-7, -0.5, -1.0],
        f,
        f64::exp,
    );
    if ends.0 > e.0 || ends.0.is_nan() {
        e = ends;
    }
    println!("exp x<=0 (avx512 table): max error {:.3} ULP at x = -{:e}", e.0, e.1);
    assert!(e.0 <= MAX_ULP, "exp (avx512 table): {} ULP at -{:e}", e.0, e.1);
    // Flushed below the threshold, exactly as the generic exp_neg.
    let below: Vec<f32> =
        (1..=4096u32).map(|i| -f32::from_bits(lo + i)).chain([-100.0, -1e30, f32::NEG_INFINITY]).collect();
    let mut out = vec![1.0f32; below.len()];
    f(&below, &mut out);
    assert!(out.iter().all(|&v| v == 0.0 && v.is_sign_positive()), "flush below EXP_NEG_LO");
}

#[cfg(target_arch = "x86_64")]
#[test]
fn avx512_bce_split_agrees_with_the_fused_kernel() {
    use losskit_math::avx512::{bce_split, pass};
    if !avx512_here("avx512 bce_split") {
        return;
    }
    let k = kernels_for(Isa::Avx512).unwrap();
    for n in [1usize, 15, 16, 17, 511, 512, 513, 3001] {
        let x: Vec<f32> = data(n, 11).iter().map(|v| 0.001 + 0.998 * v).collect();
        let mut t = data(n, 12);
        t[0] = 1.0; // and exact 0/1 ends
        let (mut g_split, mut g_fused) = (vec![0.0f32; n], vec![0.0f32; n]);
        // SAFETY: AVX-512F checked above; buffers of length n; inputs in [0, 1].
        let (both, check, grad, fused) = unsafe {
            (
                bce_split::<{ pass::BOTH }>(x.as_ptr(), t.as_ptr(), n, std::ptr::null_mut(), 0.0),
                bce_split::<{ pass::CHECK }>(x.as_ptr(), t.as_ptr(), n, std::ptr::null_mut(), 0.0),
                bce_split::<{ pass::GRAD }>(x.as_ptr(), t.as_ptr(), n, g_split.as_mut_ptr(), 0.25),
                (k.elementwise[0][1])(
                    Loss::Bce,
                    x.as_ptr(),
                    t.as_ptr(),
                    n,
                    std::ptr::null_mut(),
                    g_fused.as_mut_ptr(),
                    0.25,
                ),
            )
        };
        // Every pass sums A and B the same way: a forward and a forward + grad give the same loss.
        assert_eq!(both.0.to_bits(), check.0.to_bits(), "A, n = {n}");
        assert_eq!(both.1.to_bits(), grad.1.to_bits(), "B, n = {n}");
        assert!(
            close(both.1 - both.0, fused, 1e-6),
            "B - A = {} vs the fused sum {fused}, n = {n}",
            both.1 - both.0
        );
        for i in 0..n {
            assert_eq!(g_split[i].to_bits(), g_fused[i].to_bits(), "grad[{i}], n = {n}");
        }
        // Out of range anywhere: A is NaN in the passes that check.
        for at in [0, n / 2, n - 1] {
            for bad in [-1e-30f32, 1.000_000_1, f32::NAN, f32::from_bits(0x7fc0_0001)] {
                let mut xb = x.clone();
                xb[at] = bad;
                let mut tb = t.clone();
                tb[n - 1 - at] = bad;
                // SAFETY: as above; nothing is written by these passes.
                let (a1, a2, a3) = unsafe {
                    (
                        bce_split::<{ pass::CHECK }>(xb.as_ptr(), t.as_ptr(), n, std::ptr::null_mut(), 0.0).0,
                        bce_split::<{ pass::CHECK }>(x.as_ptr(), tb.as_ptr(), n, std::ptr::null_mut(), 0.0).0,
                        bce_split::<{ pass::BOTH }>(xb.as_ptr(), t.as_ptr(), n, std::ptr::null_mut(), 0.0).0,
                    )
                };
                assert!(a1.is_nan() && a2.is_nan() && a3.is_nan(), "{bad} at {at} of {n}: {a1} {a2} {a3}");
            }
        }
    }
}
