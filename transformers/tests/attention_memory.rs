//! Memory of the attention kernels, measured: a counting global allocator records the peak of live
//! heap bytes during a forward and a backward pass, which must agree with what
//! [`memory_use`] reports, grow linearly in the sequence length for the flash kernel and
//! quadratically for the naive one. The ignored `attention_memory_table` prints time and memory per
//! sequence length for the notes:
//!
//! `cargo test --release -p tinylab-transformers --test attention_memory -- --ignored --nocapture`

#![allow(clippy::print_stdout)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tinylab_classical::Var;
use tinylab_classical::tensor::{randn, rng};
use tinylab_transformers::attention::{AttentionKernel, AttentionMask, Dims, attention, linear_attention, memory_use};

/// The system allocator, counting live bytes and their high-water mark.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let now = LIVE.fetch_add(bytes, Ordering::SeqCst) + bytes;
    PEAK.fetch_max(now, Ordering::SeqCst);
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// One measurement at a time (the counters are global).
static SERIAL: Mutex<()> = Mutex::new(());

/// `f`'s result and the peak of heap bytes allocated while it ran, above what was live before.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let out = f();
    (out, PEAK.load(Ordering::SeqCst).saturating_sub(base))
}

/// What one forward and backward pass measured.
struct Measured {
    forward_peak: usize,
    backward_peak: usize,
    forward_s: f64,
    backward_s: f64,
}

/// The B=1, H=4, D=64 causal self-attention of the issue at `t` tokens.
fn dims(t: usize) -> Dims {
    Dims { batch: 1, q_heads: 4, kv_heads: 4, tokens: t, keys: t, head_dim: 64, value_dim: 64 }
}

/// Runs `kernel` (`None`: linear attention) forward and backward at `t` tokens, measuring heap peaks.
fn measure(kernel: Option<AttentionKernel>, t: usize) -> Measured {
    let d = dims(t);
    let r = &mut rng(t as u64);
    let q = Var::leaf(randn(&[1, d.q_heads, t, d.head_dim], 1.0, r));
    let k = Var::leaf(randn(&[1, d.kv_heads, t, d.head_dim], 1.0, r));
    let v = Var::leaf(randn(&[1, d.kv_heads, t, d.value_dim], 1.0, r));
    let seed = randn(&[1, d.q_heads, t, d.value_dim], 1.0, r);
    let clock = Instant::now();
    let (out, forward_peak) = peak_during(|| match kernel {
        Some(kernel) => attention(&q, &k, &v, &AttentionMask::causal(), None, kernel).unwrap(),
        None => linear_attention(&q, &k, &v, true).unwrap(),
    });
    let forward_s = clock.elapsed().as_secs_f64();
    let clock = Instant::now();
    let ((), backward_peak) = peak_during(|| out.backward_with(seed).unwrap());
    let backward_s = clock.elapsed().as_secs_f64();
    Measured { forward_peak, backward_peak, forward_s, backward_s }
}

#[test]
fn measured_memory_is_linear_for_flash_and_linear_attention_and_quadratic_for_naive() {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // On one worker thread exactly one task's scratch is live at a time (with more, a thread waiting
    // inside a parallel GEMM may steal and start another task), so the bounds below are exact.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    pool.install(check_measured_memory);
}

fn check_measured_memory() {
    let threads = rayon::current_num_threads();
    let slack = 64 << 10; // the runtime's own small allocations (task lists, error plumbing)
    let mut flash = Vec::new();
    let mut naive = Vec::new();
    for t in [1024, 2048] {
        let d = dims(t);
        let io = 4 * d.batch * d.q_heads * t * d.value_dim; // the output tensor
        let grads = 4 * 3 * d.batch * d.q_heads * t * d.head_dim; // dQ, dK, dV (kv_heads == q_heads)
        for (kernel, into) in [(AttentionKernel::flash(), &mut flash), (AttentionKernel::Naive, &mut naive)] {
            // A first run lets the GEMM's per-thread packing buffers (kept between calls, shared by
            // every caller) reach their size; the second is measured.
            measure(Some(kernel), t);
            let m = measure(Some(kernel), t);
            let model = memory_use(kernel, &d).unwrap();
            // Forward: output + what the op saves + at most one scratch per thread.
            assert!(m.forward_peak >= io + model.saved, "{kernel:?} t={t}: {} < {}", m.forward_peak, io + model.saved);
            assert!(
                m.forward_peak <= io + model.saved + threads * model.forward_scratch + slack,
                "{kernel:?} t={t}: forward peak {} vs model {model:?}",
                m.forward_peak
            );
            // Backward: the seed's copies and the gradients, plus at most one scratch per thread.
            assert!(
                m.backward_peak <= 2 * io + grads + model.backward_rows + threads * model.backward_scratch + slack,
                "{kernel:?} t={t}: backward peak {} vs model {model:?}",
                m.backward_peak
            );
            into.push(m);
        }
    }
    let linear: Vec<Measured> = [1024, 2048]
        .into_iter()
        .map(|t| {
            measure(None, t);
            measure(None, t)
        })
        .collect();
    // Doubling T: flash and linear attention grow about 2x, naive about 4x.
    let ratio = |v: &[Measured], f: fn(&Measured) -> usize| f(&v[1]) as f64 / f(&v[0]) as f64;
    assert!(ratio(&flash, |m| m.forward_peak) < 2.2, "flash forward x{}", ratio(&flash, |m| m.forward_peak));
    assert!(ratio(&flash, |m| m.backward_peak) < 2.2, "flash backward x{}", ratio(&flash, |m| m.backward_peak));
    assert!(ratio(&linear, |m| m.forward_peak) < 2.2, "linear forward x{}", ratio(&linear, |m| m.forward_peak));
    assert!(ratio(&linear, |m| m.backward_peak) < 2.2, "linear backward x{}", ratio(&linear, |m| m.backward_peak));
    assert!(ratio(&naive, |m| m.forward_peak) > 3.5, "naive forward x{}", ratio(&naive, |m| m.forward_peak));
}

#[test]
#[ignore = "prints the table of the notes; slow"]
fn attention_memory_table() {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    println!("B=1 H=4 D=64 causal, {} threads", rayon::current_num_threads());
    println!("| kernel | T | forward ms | backward ms | saved KiB (model) | fwd peak KiB | bwd peak KiB |");
    println!("|---|---|---|---|---|---|---|");
    for t in [256, 512, 1024, 2048, 4096] {
        for kernel in [Some(AttentionKernel::Naive), Some(AttentionKernel::flash()), None] {
            if kernel == Some(AttentionKernel::Naive) && t > 2048 {
                continue;
            }
            measure(kernel, t); // warms the GEMM's per-thread packing buffers
            let m = measure(kernel, t);
            let (name, saved) = match kernel {
                Some(k) => (format!("{k:?}"), memory_use(k, &dims(t)).unwrap().saved as f64 / 1024.0),
                None => ("linear (elu+1)".to_string(), 4.0 * 4.0 * t as f64 / 1024.0),
            };
            println!(
                "| {name} | {t} | {:.2} | {:.2} | {saved:.0} | {:.0} | {:.0} |",
                m.forward_s * 1e3,
                m.backward_s * 1e3,
                m.forward_peak as f64 / 1024.0,
                m.backward_peak as f64 / 1024.0
            );
        }
    }
}

#[test]
#[ignore = "prints the flash tile-size sweep of the notes; slow"]
fn flash_tile_sweep() {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    println!("B=1 H=4 D=64 causal, {} threads; best of 3", rayon::current_num_threads());
    println!("| tiles | T | forward ms | backward ms | scratch KiB/task (fwd, bwd) |");
    println!("|---|---|---|---|---|");
    for t in [1024, 2048] {
        for (block_q, block_k) in [(16, 16), (32, 32), (32, 64), (64, 32), (64, 64), (128, 64), (64, 128), (128, 128)] {
            let kernel = AttentionKernel::Flash { block_q, block_k };
            let runs: Vec<Measured> = (0..3).map(|_| measure(Some(kernel), t)).collect();
            let best = |f: fn(&Measured) -> f64| runs.iter().map(f).fold(f64::INFINITY, f64::min) * 1e3;
            let model = memory_use(kernel, &dims(t)).unwrap();
            println!(
                "| {block_q}x{block_k} | {t} | {:.2} | {:.2} | {:.1}, {:.1} |",
                best(|m| m.forward_s),
                best(|m| m.backward_s),
                model.forward_scratch as f64 / 1024.0,
                model.backward_scratch as f64 / 1024.0
            );
        }
    }
}
