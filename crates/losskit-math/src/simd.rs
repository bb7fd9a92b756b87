//! Run-time ISA dispatch for the float32 kernels of [`crate::lanes`].
//!
//! A prebuilt binary cannot assume any vector extension, so each kernel is
//! compiled several times — for AVX-512 (16 lanes), AVX2 + FMA (8 lanes) and the
//! baseline target (4 lanes: SSE2 on x86-64, NEON on arm64, where NEON and FMA
//! are part of the base ISA) — and the best one the CPU supports is chosen once,
//! at first use. [`force`] selects another (tests compare every path the
//! machine has against the portable one).

use crate::lanes::{self, Loss};
use std::sync::atomic::{AtomicU8, Ordering};

/// An instruction-set path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// The baseline target, 4 lanes (SSE2 on x86-64, NEON on arm64).
    Portable,
    /// AVX2 with FMA, 8 lanes.
    Avx2,
    /// AVX-512F, 16 lanes.
    Avx512,
}

impl Isa {
    /// A short name for messages and benchmarks.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Portable => {
                if cfg!(target_arch = "aarch64") {
                    "neon"
                } else {
                    "portable"
                }
            }
            Self::Avx2 => "avx2+fma",
            Self::Avx512 => "avx512",
        }
    }
}

/// The kernels of one ISA, as plain function pointers.
#[derive(Clone, Copy)]
#[allow(clippy::type_complexity)]
pub struct Kernels {
    pub isa: Isa,
    pub max: fn(&[f32]) -> f32,
    pub sum_exp: fn(&[f32], f32, *const f32) -> f64,
    pub exp_scale: unsafe fn(*const f32, *mut f32, usize, f32, f32, Option<(f32, *const f32)>),
    /// Indexed by `[out given][grad given]`.
    pub elementwise: [[unsafe fn(Loss, *const f32, *const f32, usize, *mut f32, *mut f32, f32) -> f64; 2]; 2],
    pub small_stats: unsafe fn(*const f32, usize, usize, *mut f32, *mut f32, *mut f32, *mut f32),
    pub small_grad: unsafe fn(*mut f32, usize, usize, *const f32, *const f32),
    pub exp: fn(&[f32], &mut [f32]),
    pub ln: fn(&[f32], &mut [f32]),
    pub ln_1p: fn(&[f32], &mut [f32]),
    pub sigmoid: fn(&[f32], &mut [f32]),
    /// BCE's loss as two sums, in passes (see [`crate::avx512::bce_split`]):
    /// `[both, check, grad]`, where the path has it.
    pub bce_split: Option<[BceSplit; 3]>,
}

/// One pass of a split BCE kernel: `(x, t, n, grad, scale) -> (A, B)`.
pub type BceSplit = unsafe fn(*const f32, *const f32, usize, *mut f32, f32) -> (f64, f64);

macro_rules! bce_split_of {
    () => {
        None
    };
    ($hand:ident) => {
        Some([crate::$hand::bce_split::<0>, crate::$hand::bce_split::<1>, crate::$hand::bce_split::<2>])
    };
}

macro_rules! isa_kernels {
    ($name:ident, $isa:expr, $L:expr, $FMA:expr, $($feat:literal)? $(; hand = $hand:ident)?) => {
        mod $name {
            #![allow(clippy::missing_safety_doc, unsafe_op_in_unsafe_fn)]
            use super::*;
            const L: usize = $L;
            const F: bool = $FMA;

            $(#[target_feature(enable = $feat)])?
            unsafe fn max_t(x: &[f32]) -> f32 { lanes::max::<L>(x) }
            $(#[target_feature(enable = $feat)])?
            unsafe fn sum_exp_t(x: &[f32], m: f32, next: *const f32) -> f64 {
                $(return crate::$hand::sum_exp(x, m, next);)?
                #[allow(unreachable_code)]
                lanes::sum_exp::<L, F>(x, m, next)
            }
            $(#[target_feature(enable = $feat)])?
            pub unsafe fn exp_scale(x: *const f32, g: *mut f32, n: usize, m: f32, a: f32, bw: Option<(f32, *const f32)>) {
                $(return crate::$hand::exp_scale(x, g, n, m, a, bw);)?
                #[allow(unreachable_code)]
                lanes::exp_scale::<L, F>(x, g, n, m, a, bw)
            }
            $(#[target_feature(enable = $feat)])?
            pub unsafe fn ew<const O: bool, const G: bool>(
                loss: Loss, x: *const f32, t: *const f32, n: usize, out: *mut f32, grad: *mut f32, scale: f32,
            ) -> f64 {
                $(if loss == Loss::Bce {
                    return crate::$hand::bce::<O, G>(x, t, n, out, grad, scale);
                }
                if loss == Loss::BceLogits {
                    return crate::$hand::bce_logits::<O, G>(x, t, n, out, grad, scale);
                })?
                lanes::elementwise::<L, F, O, G>(loss, x, t, n, out, grad, scale)
            }
            $(#[target_feature(enable = $feat)])?
            pub unsafe fn small_stats(x: *const f32, rows: usize, c: usize, e: *mut f32, m: *mut f32, s: *mut f32, l: *mut f32) {
                $(return crate::$hand::small_stats(x, rows, c, e, m, s, l);)?
                #[allow(unreachable_code)]
                lanes::small_stats::<F>(x, rows, c, e, m, s, l)
            }
            $(#[target_feature(enable = $feat)])?
            pub unsafe fn small_grad(g: *mut f32, rows: usize, c: usize, e: *const f32, a: *const f32) {
                lanes::small_grad(g, rows, c, e, a)
            }
            $(#[target_feature(enable = $feat)])?
            unsafe fn exp_t(x: &[f32], out: &mut [f32]) { for (o, &v) in out.iter_mut().zip(x) { *o = lanes::exp::<F>(v) } }
            $(#[target_feature(enable = $feat)])?
            unsafe fn ln_t(x: &[f32], out: &mut [f32]) { for (o, &v) in out.iter_mut().zip(x) { *o = lanes::ln::<F>(v) } }
            $(#[target_feature(enable = $feat)])?
            unsafe fn ln_1p_t(x: &[f32], out: &mut [f32]) { for (o, &v) in out.iter_mut().zip(x) { *o = lanes::ln_1p::<F>(v) } }
            $(#[target_feature(enable = $feat)])?
            unsafe fn sigmoid_t(x: &[f32], out: &mut [f32]) { for (o, &v) in out.iter_mut().zip(x) { *o = lanes::sigmoid::<F>(v) } }

            // The safe wrappers below are only reachable through `kernels()` /
            // `kernels_for()`, which hand out this table only after checking that
            // the CPU supports the target features it was compiled for.
            fn max(x: &[f32]) -> f32 {
                // SAFETY: CPU support checked before this table is handed out.
                unsafe { max_t(x) }
            }
            fn sum_exp(x: &[f32], m: f32, next: *const f32) -> f64 {
                // SAFETY: as above.
                unsafe { sum_exp_t(x, m, next) }
            }
            fn exp(x: &[f32], o: &mut [f32]) {
                // SAFETY: as above.
                unsafe { exp_t(x, o) }
            }
            fn ln(x: &[f32], o: &mut [f32]) {
                // SAFETY: as above.
                unsafe { ln_t(x, o) }
            }
            fn ln_1p(x: &[f32], o: &mut [f32]) {
                // SAFETY: as above.
                unsafe { ln_1p_t(x, o) }
            }
            fn sigmoid(x: &[f32], o: &mut [f32]) {
                // SAFETY: as above.
                unsafe { sigmoid_t(x, o) }
            }

            pub const KERNELS: Kernels = Kernels {
                isa: $isa,
                max,
                sum_exp,
                exp_scale,
                elementwise: [[ew::<false, false>, ew::<false, true>], [ew::<true, false>, ew::<true, true>]],
                small_stats,
                small_grad,
                exp,
                ln,
                ln_1p,
                sigmoid,
                bce_split: bce_split_of!($($hand)?),
            };
        }
    };
}

isa_kernels!(portable, Isa::Portable, 4, cfg!(target_arch = "aarch64"),);
#[cfg(target_arch = "x86_64")]
isa_kernels!(avx2, Isa::Avx2, 8, true, "avx2,fma");
#[cfg(target_arch = "x86_64")]
isa_kernels!(avx512, Isa::Avx512, 16, true, "avx512f,avx2,fma"; hand = avx512);

/// The paths this CPU can run, best last.
#[must_use]
pub fn available() -> Vec<Isa> {
    let mut v = vec![Isa::Portable];
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            v.push(Isa::Avx2);
        }
        if is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
        {
            v.push(Isa::Avx512);
        }
    }
    v
}

const UNSET: u8 = u8::MAX;
static CHOSEN: AtomicU8 = AtomicU8::new(UNSET);

fn table(isa: Isa) -> &'static Kernels {
    match isa {
        Isa::Portable => &portable::KERNELS,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => &avx2::KERNELS,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => &avx512::KERNELS,
        #[cfg(not(target_arch = "x86_64"))]
        _ => &portable::KERNELS,
    }
}

fn code(isa: Isa) -> u8 {
    match isa {
        Isa::Portable => 0,
        Isa::Avx2 => 1,
        Isa::Avx512 => 2,
    }
}

fn from_code(c: u8) -> Isa {
    match c {
        1 => Isa::Avx2,
        2 => Isa::Avx512,
        _ => Isa::Portable,
    }
}

/// The path `LOSSKIT_ISA` names: `portable` (or `neon`), `avx2` (or
/// `avx2+fma`), `avx512`; case and surrounding blanks ignored.
#[must_use]
pub fn parse_isa(name: &str) -> Option<Isa> {
    match name.trim().to_ascii_lowercase().as_str() {
        "portable" | "neon" => Some(Isa::Portable),
        "avx2" | "avx2+fma" => Some(Isa::Avx2),
        "avx512" => Some(Isa::Avx512),
        _ => None,
    }
}

/// The path for `LOSSKIT_ISA = want` on a CPU with the paths `avail` (best
/// last), and a warning when the request cannot be met: an unknown or empty
/// name, or a path this CPU lacks, falls back to the best path.
#[must_use]
pub fn choose(want: Option<&str>, avail: &[Isa]) -> (Isa, Option<String>) {
    let best = *avail.last().unwrap_or(&Isa::Portable);
    let Some(want) = want else { return (best, None) };
    match parse_isa(want) {
        Some(isa) if avail.contains(&isa) => (isa, None),
        Some(isa) => (
            best,
            Some(format!(
                "losskit: LOSSKIT_ISA={want:?}: this CPU cannot run {}; using {}",
                isa.name(),
                best.name()
            )),
        ),
        None => (
            best,
            Some(format!(
                "losskit: LOSSKIT_ISA={want:?} is not a path (portable, avx2 or avx512); using {}",
                best.name()
            )),
        ),
    }
}

/// The kernels of the chosen path (the best available unless [`force`]d, or
/// unless `LOSSKIT_ISA=portable|avx2|avx512` asks for another one the CPU has;
/// an unknown or empty value, or a path the CPU lacks, is reported on stderr
/// once and the best path is used).
#[inline]
pub fn kernels() -> &'static Kernels {
    let c = CHOSEN.load(Ordering::Relaxed);
    if c != UNSET {
        return table(from_code(c));
    }
    let want = std::env::var("LOSSKIT_ISA").ok();
    let (isa, warning) = choose(want.as_deref(), &available());
    if let Some(w) = warning {
        // Once: the choice is stored below (a race may print it twice at most per thread).
        if CHOSEN.compare_exchange(UNSET, code(isa), Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            eprintln!("{w}");
        }
    }
    CHOSEN.store(code(isa), Ordering::Relaxed);
    table(isa)
}

/// Selects a path for all later calls. Returns false (and changes nothing) if
/// this CPU cannot run it.
pub fn force(isa: Isa) -> bool {
    if available().contains(&isa) {
        CHOSEN.store(code(isa), Ordering::Relaxed);
        true
    } else {
        false
    }
}

/// The kernels of a given path, if this CPU can run it (for tests).
#[must_use]
pub fn kernels_for(isa: Isa) -> Option<&'static Kernels> {
    available().contains(&isa).then(|| table(isa))
}

/// A float32 kernel written once over its arithmetic ([`crate::pointwise::Lane`]) and lane count,
/// compiled for each ISA by [`run`]. Implementations mark `run` `#[inline(always)]`
/// so that it is compiled inside the ISA's `#[target_feature]` function.
pub trait LaneKernel {
    type Out;
    fn run<const FMA: bool, const L: usize>(self) -> Self::Out;
}

/// Runs `k` on the chosen ISA path (see [`kernels`]).
#[inline]
pub fn run<K: LaneKernel>(k: K) -> K::Out {
    match kernels().isa {
        // SAFETY: `kernels()` only chooses a path the CPU supports.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { run_avx512(k) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { run_avx2(k) },
        _ => k.run::<{ cfg!(target_arch = "aarch64") }, 4>(),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn run_avx512<K: LaneKernel>(k: K) -> K::Out {
    k.run::<true, 16>()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2<K: LaneKernel>(k: K) -> K::Out {
    k.run::<true, 8>()
}

#[cfg(test)]
mod tests {
    use super::{choose, parse_isa, Isa};

    #[test]
    fn losskit_isa_values() {
        let all = [Isa::Portable, Isa::Avx2, Isa::Avx512];
        assert_eq!(choose(None, &all), (Isa::Avx512, None));
        assert_eq!(choose(Some("avx2"), &all), (Isa::Avx2, None));
        assert_eq!(choose(Some(" Portable "), &all), (Isa::Portable, None));
        assert_eq!(parse_isa("avx2+fma"), Some(Isa::Avx2));
        // An empty or unknown value is reported, never silently the portable path.
        for bad in ["", "avx", "sse", "p"] {
            let (isa, w) = choose(Some(bad), &all);
            assert_eq!(isa, Isa::Avx512, "{bad:?}");
            assert!(w.is_some_and(|w| w.contains("is not a path")), "{bad:?}");
        }
        let (isa, w) = choose(Some("avx512"), &[Isa::Portable, Isa::Avx2]);
        assert_eq!(isa, Isa::Avx2);
        assert!(w.is_some_and(|w| w.contains("cannot run")));
    }
}
