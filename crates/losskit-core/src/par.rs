//! Deterministic data parallelism.
//!
//! Work is cut into chunks whose size depends only on the input's size, never on
//! the number of threads; every chunk returns its partial sums and the caller adds
//! them in chunk order. The result is therefore bit-identical for any thread count
//! (see rayon-rs/rayon#663 for why a plain parallel `sum` is not).

use crate::sliced;
use rayon::prelude::*;
use rayon::{ThreadPool, ThreadPoolBuilder};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

/// Inputs smaller than this many elements run on the calling thread: waking the
/// pool costs more than it saves.
pub const PARALLEL_THRESHOLD: usize = 1 << 16;

/// Elements per chunk (rounded to whole rows). Large enough to amortise
/// scheduling, small enough to balance two to dozens of cores.
pub const CHUNK_ELEMS: usize = 1 << 15;

struct PoolState {
    threads: usize,
    pool: Option<Arc<ThreadPool>>,
}

fn state() -> &'static RwLock<PoolState> {
    static STATE: OnceLock<RwLock<PoolState>> = OnceLock::new();
    STATE.get_or_init(|| {
        let threads = std::env::var("LOSSKIT_NUM_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n >= 1)
            .unwrap_or_else(default_threads);
        RwLock::new(PoolState { threads, pool: None })
    })
}

/// The machine's available parallelism.
#[must_use]
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Sets the number of threads used by large inputs (1 = calling thread only).
pub fn set_num_threads(n: usize) {
    let n = n.max(1);
    let mut st = state().write().unwrap_or_else(std::sync::PoisonError::into_inner);
    if st.threads != n {
        st.threads = n;
        st.pool = None;
    }
}

/// The number of threads used by large inputs.
#[must_use]
pub fn num_threads() -> usize {
    state().read().unwrap_or_else(std::sync::PoisonError::into_inner).threads
}

fn pool() -> Option<Arc<ThreadPool>> {
    {
        let st = state().read().unwrap_or_else(std::sync::PoisonError::into_inner);
        if st.threads <= 1 {
            return None;
        }
        if let Some(p) = &st.pool {
            return Some(Arc::clone(p));
        }
    }
    let mut st = state().write().unwrap_or_else(std::sync::PoisonError::into_inner);
    if st.threads <= 1 {
        return None;
    }
    if st.pool.is_none() {
        let built = ThreadPoolBuilder::new()
            .num_threads(st.threads)
            .thread_name(|i| format!("losskit-{i}"))
            .build()
            .ok()
            .map(Arc::new);
        st.pool = built;
    }
    st.pool.clone()
}

/// Splits `n_items` items (each `item_elems` elements of work) into fixed chunks
/// and maps `f(start, end)` over them, in parallel when the input is large.
/// Results come back in chunk order.
pub fn map_chunks<R, F>(n_items: usize, item_elems: usize, f: F) -> Parts<R>
where
    R: Send,
    F: Fn(usize, usize) -> R + Sync + Send,
{
    if n_items == 0 {
        return Parts::Many(Vec::new());
    }
    let per = (CHUNK_ELEMS / item_elems.max(1)).max(1);
    let n_chunks = n_items.div_ceil(per);
    let run = |c: usize| {
        let s = c * per;
        f(s, (s + per).min(n_items))
    };
    let total = n_items.saturating_mul(item_elems.max(1));
    if n_chunks == 1 {
        return Parts::One([run(0)]);
    }
    let pool = if total >= PARALLEL_THRESHOLD { pool() } else { None };
    if sliced::active() {
        return Parts::Many(in_rounds(n_chunks, pool.as_deref(), run));
    }
    if let Some(p) = pool {
        return Parts::Many(p.install(|| (0..n_chunks).into_par_iter().map(run).collect()));
    }
    Parts::Many((0..n_chunks).map(run).collect())
}

/// The chunks of a sliced job (see [`crate::sliced`]): the same chunks, in
/// rounds, with a checkpoint between rounds where the job may pause. Each
/// round is sized from the previous one's pace to fill what is left of the
/// slice, so a slice ends in about one round: every round ends at a barrier
/// where the faster threads wait for the slowest chunk, and fewer rounds lose
/// less. Chunk results are the same, in the same order, so every sum is
/// bit-identical to the sync call's.
fn in_rounds<R: Send>(
    n_chunks: usize,
    pool: Option<&ThreadPool>,
    run: impl Fn(usize) -> R + Sync + Send,
) -> Vec<R> {
    let mut out = Vec::with_capacity(n_chunks);
    let threads = pool.map_or(1, ThreadPool::current_num_threads);
    let mut round = threads;
    let mut c = 0;
    while c < n_chunks {
        let e = (c + round).min(n_chunks);
        let t0 = Instant::now();
        match pool {
            Some(p) => p.install(|| out.par_extend((c..e).into_par_iter().map(&run))),
            None => out.extend((c..e).map(&run)),
        }
        let (done, took) = (e - c, t0.elapsed());
        c = e;
        if c < n_chunks {
            sliced::checkpoint();
            // Chunks per second in the round just run, times the slice's time
            // left (80%: the pace varies); at least one chunk per thread, at
            // most 4× the last round (a short round's pace is a rough guess).
            let left = sliced::remaining().unwrap_or(Duration::ZERO);
            #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let want = (done as f64 / took.as_secs_f64().max(1e-6) * left.as_secs_f64() * 0.8) as usize;
            round = want.clamp(threads, done.saturating_mul(4).max(threads));
        }
    }
    out
}

/// Writes `len` zero elements at `p`: one memset per thread over contiguous
/// pieces (no reduction, so the split cannot change any result).
pub(crate) fn fill_zero<T: Copy + Send>(p: SendPtr<T>, len: usize) {
    let threads = if len >= PARALLEL_THRESHOLD * 16 { num_threads() } else { 1 };
    let piece = len.div_ceil(threads.max(1));
    let zero = |i: usize| {
        let s = i * piece;
        let e = (s + piece).min(len);
        if s < e {
            // SAFETY: the caller owns p[..len]; pieces are disjoint.
            unsafe { std::ptr::write_bytes(p.ptr().add(s), 0, e - s) };
        }
    };
    if sliced::active() && len > ZERO_ROUND {
        // A sliced job clears in rounds too, with a checkpoint between them.
        let mut s = 0;
        while s < len {
            let e = (s + ZERO_ROUND).min(len);
            // SAFETY: a sub-range of the caller's p[..len].
            fill_zero(SendPtr(unsafe { p.ptr().add(s) }), e - s);
            s = e;
            if s < len {
                sliced::checkpoint();
            }
        }
        return;
    }
    match pool() {
        Some(pool) if threads > 1 => pool.install(|| (0..threads).into_par_iter().for_each(zero)),
        _ => (0..threads).for_each(zero),
    }
}

/// Elements a sliced job clears between checkpoints.
const ZERO_ROUND: usize = 1 << 22;

/// Per-chunk results in chunk order; a single chunk (every small input) needs
/// no allocation.
pub enum Parts<R> {
    One([R; 1]),
    Many(Vec<R>),
}

impl<R> Parts<R> {
    /// The results, in chunk order.
    pub fn iter(&self) -> std::slice::Iter<'_, R> {
        match self {
            Self::One(a) => a.iter(),
            Self::Many(v) => v.iter(),
        }
    }
}

impl<R> IntoIterator for Parts<R> {
    type Item = R;
    type IntoIter = std::iter::Chain<std::option::IntoIter<R>, std::vec::IntoIter<R>>;
    fn into_iter(self) -> Self::IntoIter {
        match self {
            Self::One([a]) => Some(a).into_iter().chain(Vec::new()),
            Self::Many(v) => None.into_iter().chain(v),
        }
    }
}

/// A raw pointer that may cross threads. Chunks write disjoint ranges.
#[derive(Clone, Copy)]
pub struct SendPtr<T>(pub *mut T);
// SAFETY: used only to write disjoint index ranges from different chunks.
unsafe impl<T> Send for SendPtr<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// The pointer (a method, so closures capture the whole `Send` wrapper).
    #[inline(always)]
    pub fn ptr(self) -> *mut T {
        self.0
    }
}
