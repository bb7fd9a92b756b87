//! The loss kernels on every instruction-set path against the float64 scalar
//! reference (the same code on f64 data, which never uses the SIMD kernels),
//! the in-place gradient, error-before-write, and bit-identical results for any
//! thread count.

use losskit_core::cross_entropy::{cross_entropy_index, cross_entropy_prob, ClassOptions};
use losskit_core::elementwise::{binary_cross_entropy, binary_cross_entropy_with_logits, kl_div};
use losskit_core::nll::nll_loss;
use losskit_core::{par, Dims, GradOutput, InputGrad, Reduction};
use losskit_math::simd::{available, force};
use std::sync::Mutex;

/// Tests that switch the ISA or the thread count run one at a time.
static GLOBAL: Mutex<()> = Mutex::new(());

fn rand(n: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            lo + (hi - lo) * ((s >> 40) as f32 / (1u64 << 24) as f32)
        })
        .collect()
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

/// float32 result against the float64 reference: torch.testing's float32 tolerances.
fn close32(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-5 + 1.3e-6 * b.abs()
}

fn assert_all_close(what: &str, a: &[f32], b: &[f64]) {
    assert_eq!(a.len(), b.len());
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        assert!(close32(f64::from(x), y), "{what}[{i}]: {x} vs {y}");
    }
}

struct Ce {
    loss: f64,
    grad: Vec<f64>,
}

fn ce32(dims: Dims, x: &[f32], t: &[i64], o: &ClassOptions<'_, f32>) -> (f64, Vec<f32>) {
    let mut g = vec![0.0f32; x.len()];
    let v = cross_entropy_index(
        dims,
        &InputGrad::with_grad(x, &mut g).unwrap(),
        t,
        o,
        GradOutput::Scalar(0.7),
        None,
    )
    .unwrap();
    (v, g)
}

fn ce64(dims: Dims, x: &[f64], t: &[i64], o: &ClassOptions<'_, f64>) -> Ce {
    let mut g = vec![0.0f64; x.len()];
    let loss = cross_entropy_index(
        dims,
        &InputGrad::with_grad(x, &mut g).unwrap(),
        t,
        o,
        GradOutput::Scalar(0.7),
        None,
    )
    .unwrap();
    Ce { loss, grad: g }
}

#[test]
fn cross_entropy_every_isa_matches_f64() {
    let _g = GLOBAL.lock().unwrap();
    for &(n, c, d) in &[(32usize, 10usize, 1usize), (7, 33, 1), (5, 1000, 1), (3, 4, 5), (40, 17, 1)] {
        let dims = Dims { n, c, d };
        let x = rand(n * c * d, (n * c + d) as u64, -8.0, 8.0);
        let t: Vec<i64> = (0..n * d).map(|i| if i % 5 == 3 { -100 } else { (i * 7 % c) as i64 }).collect();
        let w = rand(c, 9, 0.1, 2.0);
        let w64 = f64s(&w);
        for (ls, weighted) in [(0.0, false), (0.0, true), (0.2, true)] {
            let o32 = ClassOptions {
                weight: weighted.then_some(&w[..]),
                label_smoothing: ls,
                ..ClassOptions::default()
            };
            let o64 = ClassOptions {
                weight: weighted.then_some(&w64[..]),
                label_smoothing: ls,
                ..ClassOptions::default()
            };
            let reference = ce64(dims, &f64s(&x), &t, &o64);
            for isa in available() {
                assert!(force(isa));
                let (v, g) = ce32(dims, &x, &t, &o32);
                let what = format!("CE {dims:?} ls={ls} w={weighted} [{}]", isa.name());
                assert!(close32(v, reference.loss), "{what}: {v} vs {}", reference.loss);
                assert_all_close(&what, &g, &reference.grad);
                // In place: the gradient written over the logits.
                let mut xi = x.clone();
                let vi = cross_entropy_index(
                    dims,
                    &InputGrad::in_place(&mut xi),
                    &t,
                    &o32,
                    GradOutput::Scalar(0.7),
                    None,
                )
                .unwrap();
                assert_eq!(vi.to_bits(), v.to_bits(), "{what}: in-place loss");
                // The loss alone is bit-identical to the loss with its gradient.
                let alone =
                    cross_entropy_index(dims, &InputGrad::new(&x), &t, &o32, GradOutput::Scalar(0.7), None)
                        .unwrap();
                assert_eq!(alone.to_bits(), v.to_bits(), "{what}: loss with and without gradient");
                assert_eq!(xi, g, "{what}: in-place gradient");
            }
        }
    }
    force(*available().last().unwrap());
}

#[test]
fn probability_targets_and_nll_match_f64() {
    let _g = GLOBAL.lock().unwrap();
    let dims = Dims { n: 6, c: 9, d: 2 };
    let x = rand(dims.numel(), 3, -5.0, 5.0);
    let p = rand(dims.numel(), 4, 0.0, 1.0);
    let o32 = ClassOptions { label_smoothing: 0.1, ..ClassOptions::default() };
    let o64 = ClassOptions { label_smoothing: 0.1, ..ClassOptions::default() };
    let mut g = vec![0.0; x.len()];
    let mut g64 = vec![0.0; x.len()];
    let v = cross_entropy_prob(
        dims,
        &InputGrad::with_grad(&x, &mut g).unwrap(),
        &p,
        &o32,
        GradOutput::Scalar(1.0),
        None,
    )
    .unwrap();
    let x64 = f64s(&x);
    let v64 = cross_entropy_prob(
        dims,
        &InputGrad::with_grad(&x64, &mut g64).unwrap(),
        &f64s(&p),
        &o64,
        GradOutput::Scalar(1.0),
        None,
    )
    .unwrap();
    assert!(close32(v, v64));
    assert_all_close("prob grad", &g, &g64);
    let t: Vec<i32> = (0..12).map(|i| i * 5 % 9).collect();
    let o = ClassOptions { reduction: Reduction::Sum, ..ClassOptions::default() };
    let o64 = ClassOptions { reduction: Reduction::Sum, ..ClassOptions::default() };
    let v = nll_loss(dims, &InputGrad::with_grad(&x, &mut g).unwrap(), &t, &o, GradOutput::Scalar(1.0), None)
        .unwrap();
    let v64 = nll_loss(
        dims,
        &InputGrad::with_grad(&x64, &mut g64).unwrap(),
        &t,
        &o64,
        GradOutput::Scalar(1.0),
        None,
    )
    .unwrap();
    assert!(close32(v, v64));
    assert_all_close("nll grad", &g, &g64);
}

#[test]
fn elementwise_every_isa_matches_f64() {
    let _g = GLOBAL.lock().unwrap();
    let n = 5003;
    let logits = rand(n, 11, -30.0, 30.0);
    let probs = rand(n, 12, 0.0, 1.0);
    let targets = rand(n, 13, 0.0, 1.0);
    type Loss32 = fn(&InputGrad<'_, f32>, &[f32], &mut [f32]) -> f64;
    type Loss64 = fn(&InputGrad<'_, f64>, &[f64], &mut [f64]) -> f64;
    // The same call body for both types: each copy is inferred as Loss32 / Loss64.
    macro_rules! case {
        ($name:expr, $x:expr, $f:expr) => {
            ($name, $x, $f as Loss32, $f as Loss64)
        };
    }
    let cases: [(&str, &[f32], Loss32, Loss64); 4] = [
        case!("bce_logits", &logits, |x, t, _| {
            binary_cross_entropy_with_logits(
                &[t.len()],
                x,
                t,
                None,
                None,
                Reduction::Mean,
                GradOutput::Scalar(1.0),
                None,
            )
            .unwrap()
        }),
        case!("bce", &probs, |x, t, _| {
            binary_cross_entropy(&[t.len()], x, t, None, Reduction::Sum, GradOutput::Scalar(1.0), None)
                .unwrap()
        }),
        case!("kl", &logits, |x, t, _| {
            kl_div(&[t.len()], x, t, false, Reduction::Mean, GradOutput::Scalar(1.0), None).unwrap()
        }),
        case!("kl_log_target", &logits, |x, t, o| {
            kl_div(&[t.len()], x, t, true, Reduction::None, GradOutput::Scalar(1.0), Some(o)).unwrap()
        }),
    ];
    for (name, x, f32_fn, f64_fn) in cases {
        let t = if name == "kl_log_target" { rand(n, 14, -5.0, 0.0) } else { targets.clone() };
        let x64 = f64s(x);
        let mut g64 = vec![0.0; n];
        let mut o64 = vec![0.0; n];
        let v64 = f64_fn(&InputGrad::with_grad(&x64, &mut g64).unwrap(), &f64s(&t), &mut o64);
        for isa in available() {
            assert!(force(isa));
            let mut g = vec![0.0f32; n];
            let mut o = vec![0.0f32; n];
            let v = f32_fn(&InputGrad::with_grad(x, &mut g).unwrap(), &t, &mut o);
            let what = format!("{name} [{}]", isa.name());
            assert!(close32(v, v64), "{what}: {v} vs {v64}");
            assert_all_close(&what, &g, &g64);
            if name == "kl_log_target" {
                assert_all_close(&format!("{what} out"), &o, &o64);
            }
        }
    }
    force(*available().last().unwrap());
}

#[test]
fn errors_leave_buffers_untouched() {
    let dims = Dims { n: 4, c: 3, d: 1 };
    let mut x = rand(12, 5, -1.0, 1.0);
    let before = x.clone();
    let t = [0i64, 1, 7, 2];
    let e = cross_entropy_index(
        dims,
        &InputGrad::in_place(&mut x),
        &t,
        &ClassOptions::default(),
        GradOutput::Scalar(1.0),
        None,
    )
    .unwrap_err();
    assert!(e.message.contains("target[2] = 7"), "{}", e.message);
    assert_eq!(x, before);
    let mut p = vec![0.5f32, 1.5, 0.2];
    let pb = p.clone();
    assert!(binary_cross_entropy(
        &[3],
        &InputGrad::in_place(&mut p),
        &[0.0, 1.0, 0.0],
        None,
        Reduction::Mean,
        GradOutput::Scalar(1.0),
        None
    )
    .is_err());
    assert_eq!(p, pb);
}

#[test]
fn bit_identical_for_any_thread_count() {
    let _g = GLOBAL.lock().unwrap();
    let dims = Dims { n: 64, c: 4096, d: 1 };
    let x = rand(dims.numel(), 21, -10.0, 10.0);
    let t: Vec<i64> = (0..64).map(|i| (i * 977 % 4096) as i64).collect();
    let xs = rand(1 << 19, 22, -20.0, 20.0);
    let ts = rand(1 << 19, 23, 0.0, 1.0);
    let run = || {
        let (v, g) = ce32(dims, &x, &t, &ClassOptions::default());
        let mut g2 = vec![0.0f32; xs.len()];
        let v2 = binary_cross_entropy_with_logits(
            &[xs.len()],
            &InputGrad::with_grad(&xs, &mut g2).unwrap(),
            &ts,
            None,
            None,
            Reduction::Mean,
            GradOutput::Scalar(1.0),
            None,
        )
        .unwrap();
        (v.to_bits(), g, v2.to_bits(), g2)
    };
    let before = par::num_threads();
    par::set_num_threads(1);
    let one = run();
    for n in [2, 3, 5] {
        par::set_num_threads(n);
        let other = run();
        assert_eq!(one.0, other.0, "CE loss, {n} threads");
        assert!(one.1 == other.1, "CE grad, {n} threads");
        assert_eq!(one.2, other.2, "BCE-with-logits loss, {n} threads");
        assert!(one.3 == other.3, "BCE-with-logits grad, {n} threads");
    }
    par::set_num_threads(before);
}
