//! Bit-exactness of the C kernel library (`c/tl_kernels.c`, as shipped in [`KERNELS_C`]) against the
//! Rust int8 engine of `tinylab-classical`.
//!
//! Every test draws seeded random cases, writes ONE C program holding all of them (inputs, weights and
//! parameters as arrays, one kernel call per case, outputs printed in hex), compiles it with the host
//! gcc under the strict flags (`-std=c99 -Wall -Wextra -Werror -pedantic -O2`, both rounding policies
//! where the kernel rescales) and compares the bytes with the Rust kernels. Most cases compute a random
//! output window (an MCUNetV2 patch) from the input window covering its receptive field, both with
//! gaps between rows (a row stride larger than the window), and check the window equals the slice of
//! the full Rust output and that the row gaps of the output buffer are left untouched. Tests skip with
//! a note when gcc is absent.
//!
//! The convolution, depthwise and fully connected tests run each program against both builds of the
//! library, the portable kernels (`TL_USE_DSP 0`) and the DSP ones (`TL_USE_DSP 1`, on the host on
//! plain-C versions of the DSP instructions), and hand every call a scratch area sized as the exporter
//! sizes it ([`tinylab_mcu_export::kernels`], checked against the library's own
//! `tl_*_scratch_bytes`), at a random misalignment, guarded against overruns. The same programs, with
//! fewer cases, run on the emulated Cortex-M4 and Cortex-M7 (real SXTB16 / SMLAD) in both builds:
//! `dsp_kernels_equal_their_portable_twins_on_cortex_m`.

// The skip notes go to stdout, where `cargo test -- --nocapture` shows them; timings to stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use tinylab_classical::int8::fixed_point::{
    QuantizedMultiplier, Requant, RoundingPolicy, multiply_by_quantized_multiplier, quantize_multiplier,
};
use tinylab_classical::int8::kernels::ConvKernel;
use tinylab_classical::int8::kernels::add::QAdd;
use tinylab_classical::int8::kernels::conv::QConv2d;
use tinylab_classical::int8::kernels::depthwise::QDepthwiseConv2d;
use tinylab_classical::int8::kernels::fully_connected::QLinear;
use tinylab_classical::int8::kernels::{Dims, pool};
use tinylab_classical::ops::{Conv2dSpec, Pool2dSpec};
use tinylab_mcu_export::graph::ConvGeometry;
use tinylab_mcu_export::kernels::{Kernels, conv_scratch_bytes, depthwise_scratch_bytes};
use tinylab_mcu_export::target::{Board, Target, write_target_files};
use tinylab_mcu_export::toolchain;
use tinylab_mcu_export::{KERNELS_C, KERNELS_H};

/// The byte the C programs pre-fill output buffers with; row gaps must still hold it afterwards.
const SENTINEL: i8 = 0x5a;

const POLICIES: [RoundingPolicy; 2] = [RoundingPolicy::DoubleRounding, RoundingPolicy::SingleRounding];

// ------------------------------------------------------------------------------------------------
// Random numbers
// ------------------------------------------------------------------------------------------------

/// A seeded generator with the few draws the tests need.
struct Rand(ChaCha8Rng);

impl Rand {
    fn new(seed: u64) -> Self {
        Self(ChaCha8Rng::seed_from_u64(seed))
    }

    /// Uniform in `lo..=hi`.
    fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.0.next_u64() % (hi - lo + 1) as u64) as i64
    }

    fn size(&mut self, lo: usize, hi: usize) -> usize {
        self.int(lo as i64, hi as i64) as usize
    }

    /// True with probability `num / den`.
    fn chance(&mut self, num: u64, den: u64) -> bool {
        self.0.next_u64() % den < num
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.size(0, from.len() - 1)]
    }

    fn i8s(&mut self, n: usize, lo: i32) -> Vec<i8> {
        (0..n).map(|_| self.int(lo as i64, 127) as i8).collect()
    }

    fn i32s(&mut self, n: usize, lo: i64, hi: i64) -> Vec<i32> {
        (0..n).map(|_| self.int(lo, hi) as i32).collect()
    }

    /// A positive real multiplier: log-uniform in `[1e-4, 2)` mostly, sometimes an extreme (flushed
    /// to zero, the smallest shifts, just below 1 and 2, large ones that saturate the output).
    fn real_multiplier(&mut self) -> f64 {
        if self.chance(1, 6) {
            self.pick(&[
                1e-12,
                1.5 * 2f64.powi(-32),
                2f64.powi(-31),
                1e-4,
                0.5,
                1.0 - 1e-12,
                1.0,
                2.0 - 1e-9,
                37.0,
                1e4,
            ])
        } else {
            1e-4 * (2e4f64).powf(self.unit())
        }
    }

    /// An output stage with per-channel multipliers: zero point and one of the usual clamps (none,
    /// ReLU, ReLU6-like, random).
    fn requant(&mut self, channels: usize, policy: RoundingPolicy) -> Requant {
        let ms = (0..channels).map(|_| quantize_multiplier(self.real_multiplier(), policy).unwrap()).collect();
        let zp = self.int(-128, 127) as i32;
        let (lo, hi) = match self.int(0, 3) {
            0 => (-128, 127),
            1 => (zp, 127),
            2 => (zp, (zp + self.int(1, 100) as i32).min(127)),
            _ => {
                let a = self.int(-128, 127) as i32;
                (a, self.int(a as i64, 127) as i32)
            }
        };
        Requant::new(ms, zp, lo, hi, policy).unwrap()
    }

    /// A bias vector, sometimes large, sometimes near 2^30 (accumulators beyond the DSP kernels'
    /// fast output stage, which then takes the portable one).
    fn bias(&mut self, n: usize) -> Vec<i32> {
        let r = if self.chance(1, 10) {
            1 << 30
        } else if self.chance(1, 4) {
            1 << 22
        } else {
            1 << 14
        };
        self.i32s(n, -r, r)
    }
}

// ------------------------------------------------------------------------------------------------
// C program generation, compilation, output parsing
// ------------------------------------------------------------------------------------------------

/// True when the test must return early for want of gcc (it fails instead under
/// `TINYLAB_REQUIRE_TOOLCHAINS`, as in CI).
fn skip_without_gcc(test: &str) -> bool {
    !tinylab_mcu_export::toolchain::tool_or_skip("gcc", test)
}

/// The start of every generated program: includes and a hex dump helper.
fn prologue() -> String {
    "#include <stdio.h>\n#include <stdint.h>\n#include <string.h>\n#include \"tl_kernels.h\"\n\n\
     static void dump(const int8_t *p, long n)\n{\n    long i;\n    for (i = 0; i < n; ++i) {\n        \
     printf(\"%02x\", (unsigned)(uint8_t)p[i]);\n    }\n    printf(\"\\n\");\n}\n\nint main(void)\n{\n"
        .to_string()
}

/// Writes the kernel library and `main_c` to a fresh directory, compiles them with the strict flags
/// and `defines`, runs the program and returns one byte vector per output line.
fn compile_and_run(tag: &str, main_c: &str, defines: &[&str]) -> Vec<Vec<u8>> {
    let dir: PathBuf = std::env::temp_dir().join(format!("tl_c_kernels_{tag}_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tl_kernels.h"), KERNELS_H).unwrap();
    std::fs::write(dir.join("tl_kernels.c"), KERNELS_C).unwrap();
    std::fs::write(dir.join("main.c"), main_c).unwrap();
    let out = Command::new("gcc")
        .current_dir(&dir)
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"])
        .args(defines)
        .args(["main.c", "tl_kernels.c", "-o", "prog"])
        .output()
        .unwrap();
    assert!(out.status.success(), "gcc failed for {tag}:\n{}", String::from_utf8_lossy(&out.stderr));
    let run = Command::new(dir.join("prog")).output().unwrap();
    assert!(run.status.success(), "{tag}: the C program failed: {:?}", run.status);
    let text = String::from_utf8(run.stdout).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    text.lines()
        .map(|l| (0..l.len() / 2).map(|i| u8::from_str_radix(&l[2 * i..2 * i + 2], 16).unwrap()).collect())
        .collect()
}

fn as_i8(v: &[u8]) -> Vec<i8> {
    v.iter().map(|&b| b as i8).collect()
}

fn join<T: std::fmt::Display>(v: &[T]) -> String {
    if v.is_empty() {
        return "0".into();
    }
    v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",")
}

/// `static <ty> name[] = {...};` (one zero when empty: C has no empty arrays).
fn arr<T: std::fmt::Display>(s: &mut String, ty: &str, name: &str, v: &[T]) {
    writeln!(s, "    static {ty} {name}[] = {{{}}};", join(v)).unwrap();
}

fn defines(policy: RoundingPolicy) -> &'static [&'static str] {
    match policy {
        RoundingPolicy::DoubleRounding => &[],
        RoundingPolicy::SingleRounding => &["-DTL_SINGLE_ROUNDING=1"],
    }
}

/// `tl_requant name` with arrays `name_m`, `name_s`, expanding a single multiplier to `channels`.
fn emit_requant(s: &mut String, name: &str, rq: &Requant, channels: usize) {
    let ms: Vec<QuantizedMultiplier> = (0..channels).map(|o| rq.multiplier(o)).collect();
    arr(s, "const int32_t", &format!("{name}_m"), &ms.iter().map(|m| m.multiplier).collect::<Vec<_>>());
    arr(s, "const int8_t", &format!("{name}_s"), &ms.iter().map(|m| m.shift).collect::<Vec<_>>());
    writeln!(
        s,
        "    tl_requant {name} = {{{name}_m, {name}_s, {}, {}, {}}};",
        rq.output_zero_point, rq.act_min, rq.act_max
    )
    .unwrap();
}

// ------------------------------------------------------------------------------------------------
// Windows
// ------------------------------------------------------------------------------------------------

/// Rows `y0..y0 + h`, columns `x0..x0 + w` of a full map.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Win {
    y0: usize,
    x0: usize,
    h: usize,
    w: usize,
}

impl Win {
    fn full(h: usize, w: usize) -> Self {
        Self { y0: 0, x0: 0, h, w }
    }
}

/// A random non-empty output window of an `h x w` map (the whole map a third of the time).
fn rand_window(r: &mut Rand, h: usize, w: usize) -> Win {
    if r.chance(1, 3) {
        return Win::full(h, w);
    }
    let y0 = r.size(0, h - 1);
    let x0 = r.size(0, w - 1);
    Win { y0, x0, h: r.size(1, h - y0), w: r.size(1, w - x0) }
}

/// The input rows (or columns) `[lo, hi)` that outputs `o0..o0 + n` read along one axis, clipped to
/// `0..size`, widened by a random margin of up to two on each side (a planner may give more).
fn cover_axis(
    r: &mut Rand,
    o0: usize,
    n: usize,
    (k, s, p, d): (usize, usize, usize, usize),
    size: usize,
) -> (usize, usize) {
    let first = (o0 * s) as i64 - p as i64;
    let last = ((o0 + n - 1) * s + (k - 1) * d) as i64 - p as i64;
    let lo = first.clamp(0, size as i64) as usize;
    let hi = ((last + 1).clamp(0, size as i64) as usize).max(lo);
    if r.chance(1, 3) { (lo.saturating_sub(r.size(0, 2)), (hi + r.size(0, 2)).min(size)) } else { (lo, hi) }
}

/// The input window covering the receptive field of output window `o`.
fn cover(
    r: &mut Rand,
    o: Win,
    vert: (usize, usize, usize, usize),
    horiz: (usize, usize, usize, usize),
    h: usize,
    w: usize,
) -> Win {
    let (y0, y1) = cover_axis(r, o.y0, o.h, vert, h);
    let (x0, x1) = cover_axis(r, o.x0, o.w, horiz, w);
    Win { y0, x0, h: y1 - y0, w: x1 - x0 }
}

/// Emits the window `win` of the full NHWC map `x` (`full_h x full_w x c`) as `tl_view name`, with
/// random bytes in a random gap after every row.
#[allow(clippy::too_many_arguments)]
fn emit_in_view(s: &mut String, r: &mut Rand, name: &str, x: &[i8], c: usize, full_h: usize, full_w: usize, win: Win) {
    let gap = if r.chance(1, 2) { 0 } else { r.size(1, 7) };
    let rs = win.w * c + gap;
    let mut data = Vec::with_capacity(win.h * rs);
    for y in win.y0..win.y0 + win.h {
        data.extend_from_slice(&x[(y * full_w + win.x0) * c..][..win.w * c]);
        data.extend(r.i8s(gap, -128));
    }
    arr(s, "int8_t", &format!("{name}_d"), &data);
    writeln!(
        s,
        "    tl_view {name} = {{{name}_d, {rs}, {}, {}, {}, {}, {c}, {full_h}, {full_w}}};",
        win.y0, win.x0, win.h, win.w
    )
    .unwrap();
}

/// An output window buffer: its view emitted as `tl_view name` (buffer pre-filled with [`SENTINEL`])
/// and what is needed to check it.
struct OutWin {
    win: Win,
    rs: usize,
    c: usize,
    full_w: usize,
}

fn emit_out_view(s: &mut String, r: &mut Rand, name: &str, c: usize, full_h: usize, full_w: usize, win: Win) -> OutWin {
    let gap = if r.chance(1, 2) { 0 } else { r.size(1, 5) };
    let rs = win.w * c + gap;
    arr(s, "int8_t", &format!("{name}_d"), &vec![SENTINEL; (win.h * rs).max(1)]);
    writeln!(
        s,
        "    tl_view {name} = {{{name}_d, {rs}, {}, {}, {}, {}, {c}, {full_h}, {full_w}}};",
        win.y0, win.x0, win.h, win.w
    )
    .unwrap();
    OutWin { win, rs, c, full_w }
}

/// Dumps the whole buffer of output view `name`.
fn dump_out(s: &mut String, name: &str, o: &OutWin) {
    writeln!(s, "    dump({name}_d, {});", (o.win.h * o.rs).max(1)).unwrap();
}

impl OutWin {
    /// The buffer holds the window of the full NHWC output `want`, and its row gaps are untouched.
    fn check(&self, got: &[u8], want: &[i8], ctx: &str) {
        let got = as_i8(got);
        let run = self.win.w * self.c;
        for r in 0..self.win.h {
            let row = &got[r * self.rs..(r + 1) * self.rs];
            let from = ((self.win.y0 + r) * self.full_w + self.win.x0) * self.c;
            assert_eq!(&row[..run], &want[from..from + run], "{ctx}: window {:?}, row {r}", self.win);
            assert!(row[run..].iter().all(|&b| b == SENTINEL), "{ctx}: wrote into the row gap, window {:?}", self.win);
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Layouts
// ------------------------------------------------------------------------------------------------

/// OIHW -> OHWI (the C conv weight order).
fn oihw_to_ohwi(w: &[i8], [o, cg, kh, kw]: [usize; 4]) -> Vec<i8> {
    let mut out = vec![0; w.len()];
    for oo in 0..o {
        for ci in 0..cg {
            for t in 0..kh * kw {
                out[(oo * kh * kw + t) * cg + ci] = w[(oo * cg + ci) * kh * kw + t];
            }
        }
    }
    out
}

/// (O, 1, KH, KW) -> HWO (the C depthwise weight order).
fn o1hw_to_hwo(w: &[i8], o: usize, taps: usize) -> Vec<i8> {
    let mut out = vec![0; w.len()];
    for oo in 0..o {
        for t in 0..taps {
            out[t * o + oo] = w[oo * taps + t];
        }
    }
    out
}

/// Random convolution geometry `(kh, kw, stride, pad, dil, h, w)` whose dilated window fits the padded
/// input, with kernel sides from `kernels`.
#[allow(clippy::type_complexity)]
fn rand_geometry(
    r: &mut Rand,
    kernels: &[usize],
    square: bool,
) -> ((usize, usize), (usize, usize), (usize, usize), (usize, usize), usize, usize) {
    loop {
        let kh = r.pick(kernels);
        let kw = if square { kh } else { r.pick(kernels) };
        let stride = (r.size(1, 3), r.size(1, 3));
        let dil = if r.chance(1, 3) { (r.size(1, 2), r.size(1, 2)) } else { (1, 1) };
        let extra = |r: &mut Rand| if r.chance(1, 6) { r.size(1, 2) } else { 0 };
        let pad = (r.size(0, kh / 2) + extra(r), r.size(0, kw / 2) + extra(r));
        let (h, w) = (r.size(1, 9), r.size(1, 9));
        if h + 2 * pad.0 > dil.0 * (kh - 1) && w + 2 * pad.1 > dil.1 * (kw - 1) {
            return ((kh, kw), stride, pad, dil, h, w);
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------------------

/// `tl_multiply_by_quantized_multiplier` equals Rust's `multiply_by_quantized_multiplier` under both
/// policies on edge inputs (extreme x, multipliers 0, 2^30, 2^31 - 1 and INT32_MIN for the saturating
/// case, every shift from -31 to 30, so the double-rounding left shift wraps) and random ones, and a
/// few hand-computed values (ties, the wrap, the saturation) hold.
#[test]
fn multiply_by_quantized_multiplier_matches_rust() {
    if skip_without_gcc("multiply_by_quantized_multiplier_matches_rust") {
        return;
    }
    let mut r = Rand::new(7);
    let mut cases: Vec<(i32, i32, i32)> = Vec::new();
    let xs = [0, 1, -1, 2, -2, 3, -3, 5, -5, i32::MAX, i32::MIN, i32::MIN + 1, 1 << 30, -(1 << 30), 12345, -98765];
    let ms = [0, 1 << 30, i32::MAX, i32::MIN, (1 << 30) + 1, 1518500250];
    for &x in &xs {
        for &m in &ms {
            for shift in -31..=30 {
                cases.push((x, m, shift));
            }
        }
    }
    for _ in 0..3000 {
        let x = match r.int(0, 2) {
            0 => r.int(i32::MIN as i64, i32::MAX as i64) as i32,
            1 => r.int(-(1 << 20), 1 << 20) as i32,
            _ => r.int(-300, 300) as i32,
        };
        let m = if r.chance(1, 10) { r.int(i32::MIN as i64, i32::MAX as i64) } else { r.int(1 << 30, (1 << 31) - 1) };
        cases.push((x, m as i32, r.int(-31, 30) as i32));
    }
    // (x, multiplier, shift, double rounding, single rounding), worked out by hand.
    let hand: [(i32, i32, i32, i32, i32); 8] = [
        (3, 1 << 30, 0, 2, 2),                       // 1.5: ties go up
        (-3, 1 << 30, 0, -1, -1),                    // -1.5: ties towards +inf
        (5, 1 << 30, -1, 2, 1),                      // 1.25: 2.5 -> 3, then 1.5 -> 2 (double); 1 (single)
        (-5, 1 << 30, -1, -1, -1),                   // -1.25
        (i32::MIN, i32::MIN, 0, i32::MAX, i32::MIN), // saturation (double), wrap of 2^31 (single)
        (1 << 30, 1 << 30, 1, -(1 << 30), 1 << 30),  // the double-rounding left shift wraps to INT32_MIN
        (i32::MAX, i32::MAX, 0, i32::MAX - 1, i32::MAX - 1),
        (100, i32::MAX, -31, 0, 0),
    ];
    cases.extend(hand.iter().map(|&(x, m, s, _, _)| (x, m, s)));

    let mut main_c = prologue();
    arr(&mut main_c, "const int32_t", "xs", &cases.iter().map(|c| c.0 as i64).collect::<Vec<_>>());
    arr(&mut main_c, "const int32_t", "ms", &cases.iter().map(|c| c.1 as i64).collect::<Vec<_>>());
    arr(&mut main_c, "const int8_t", "ss", &cases.iter().map(|c| c.2).collect::<Vec<_>>());
    writeln!(
        main_c,
        "    long i;\n    (void)dump;\n    for (i = 0; i < {}; ++i) {{\n        int32_t v = tl_multiply_by_quantized_multiplier(xs[i], ms[i], ss[i]);\n        \
         printf(\"%08lx\\n\", (unsigned long)(uint32_t)v);\n    }}\n    return 0;\n}}",
        cases.len()
    )
    .unwrap();
    // INT32_MIN as a C literal: `-2147483648` is `-(2147483648)`, a long, converted to int32_t: fine.
    for (pi, policy) in POLICIES.into_iter().enumerate() {
        let out = compile_and_run(&format!("mbqm{pi}"), &main_c, defines(policy));
        assert_eq!(out.len(), cases.len());
        for (line, &(x, m, shift)) in out.iter().zip(&cases) {
            let got = i32::from_be_bytes(line.as_slice().try_into().unwrap());
            let want = multiply_by_quantized_multiplier(x, QuantizedMultiplier { multiplier: m, shift }, policy);
            assert_eq!(got, want, "{policy:?}: x {x}, multiplier {m}, shift {shift}");
        }
        for (line, &(x, m, shift, double, single)) in out[cases.len() - hand.len()..].iter().zip(&hand) {
            let got = i32::from_be_bytes(line.as_slice().try_into().unwrap());
            let want = if policy == RoundingPolicy::DoubleRounding { double } else { single };
            assert_eq!(got, want, "{policy:?} by hand: x {x}, multiplier {m}, shift {shift}");
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Programs of random conv / depthwise / fully connected cases, run on any target
// ------------------------------------------------------------------------------------------------

/// Bytes after every scratch area that a kernel must leave untouched.
const GUARD: usize = 16;

/// What one line a program prints must be.
enum Check {
    /// An output window buffer (see [`OutWin::check`]).
    Window { out: OutWin, want: Vec<i8>, ctx: String },
    /// Exactly these bytes.
    Bytes { want: Vec<i8>, ctx: String },
    /// A guard region: all [`SENTINEL`].
    Untouched { ctx: String },
    /// A 32-bit number printed as 8 hex digits (a scratch size the C library computes).
    Word { want: u32, ctx: String },
}

/// A C program of kernel calls for one build of the library (`kernels`, `policy`) and the lines it
/// must print.
struct Program {
    c: String,
    checks: Vec<Check>,
    kernels: Kernels,
    policy: RoundingPolicy,
}

impl Program {
    fn new(kernels: Kernels, policy: RoundingPolicy) -> Self {
        Self { c: prologue(), checks: Vec::new(), kernels, policy }
    }

    /// `int8_t *name`: `bytes` bytes of scratch at a random misalignment inside a buffer filled with
    /// [`SENTINEL`], [`GUARD`] bytes after them (see [`Program::guard`]).
    fn scratch(&mut self, r: &mut Rand, name: &str, bytes: usize) {
        let mis = r.size(0, 3);
        writeln!(
            self.c,
            "    static int8_t {name}_buf[{}];\n    int8_t *{name} = {name}_buf + {mis};\n    \
             memset({name}_buf, {SENTINEL}, sizeof {name}_buf);",
            mis + bytes + GUARD
        )
        .unwrap();
    }

    /// The guard after scratch `name` of `bytes` bytes is untouched.
    fn guard(&mut self, name: &str, bytes: usize, ctx: &str) {
        writeln!(self.c, "    dump({name} + {bytes}, {GUARD});").unwrap();
        self.checks.push(Check::Untouched { ctx: format!("{ctx}: wrote past its {bytes}-byte scratch area") });
    }

    /// The C expression `expr` (an int32_t) equals `want`.
    fn word(&mut self, expr: &str, want: usize, ctx: &str) {
        writeln!(self.c, "    printf(\"%08lx\\n\", (unsigned long)(uint32_t)({expr}));").unwrap();
        self.checks.push(Check::Word { want: want as u32, ctx: ctx.to_string() });
    }

    fn window(&mut self, name: &str, out: OutWin, want: Vec<i8>, ctx: String) {
        dump_out(&mut self.c, name, &out);
        self.checks.push(Check::Window { out, want, ctx });
    }

    fn bytes(&mut self, name: &str, want: Vec<i8>, ctx: String) {
        writeln!(self.c, "    dump({name}, {});", want.len()).unwrap();
        self.checks.push(Check::Bytes { want, ctx });
    }

    /// Builds the program for `target` with the library compiled for `self.kernels`, runs it and
    /// checks every line.
    fn run(mut self, tag: &str, target: Target) {
        self.c.push_str("    printf(\"mismatches 0\\n\");\n    return 0;\n}\n");
        let tag =
            format!("{tag}_{target}_{}_{}", self.kernels, if self.policy == SINGLE { "single" } else { "double" });
        let lines = build_and_run(&tag, &self.c, target, self.kernels, self.policy);
        assert_eq!(lines.len(), self.checks.len(), "{tag}: {} lines for {} checks", lines.len(), self.checks.len());
        let what = format!("{target}, {} kernels", self.kernels);
        for (got, check) in lines.iter().zip(&self.checks) {
            match check {
                Check::Window { out, want, ctx } => out.check(got, want, &format!("{what}, {ctx}")),
                Check::Bytes { want, ctx } => assert_eq!(&as_i8(got), want, "{what}, {ctx}"),
                Check::Untouched { ctx } => {
                    assert!(as_i8(got).iter().all(|&b| b == SENTINEL), "{what}, {ctx}: {got:?}")
                }
                Check::Word { want, ctx } => {
                    let v = u32::from_be_bytes(got.as_slice().try_into().unwrap());
                    assert_eq!(v, *want, "{what}, {ctx}: the C library's scratch size differs from the exporter's");
                }
            }
        }
    }
}

const SINGLE: RoundingPolicy = RoundingPolicy::SingleRounding;

/// The library as an export ships it: `TL_SINGLE_ROUNDING` and `TL_USE_DSP` defined on top.
fn kernels_source(kernels: Kernels, policy: RoundingPolicy) -> String {
    format!(
        "#define TL_SINGLE_ROUNDING {}\n#define TL_USE_DSP {}\n{KERNELS_C}",
        u8::from(policy == SINGLE),
        u8::from(kernels.use_dsp())
    )
}

/// Compiles `main_c` with the library for `target` (host: gcc with the strict flags; Cortex-M: the
/// export Makefile, then qemu) and returns the hex lines it printed, as bytes.
fn build_and_run(tag: &str, main_c: &str, target: Target, kernels: Kernels, policy: RoundingPolicy) -> Vec<Vec<u8>> {
    let dir: PathBuf = std::env::temp_dir().join(format!("tl_c_kernels_{tag}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tl_kernels.h"), KERNELS_H).unwrap();
    std::fs::write(dir.join("tl_kernels.c"), kernels_source(kernels, policy)).unwrap();
    std::fs::write(dir.join("main.c"), main_c).unwrap();
    let text = if target.is_cortex_m() {
        write_target_files(&dir, target, &Board::default()).unwrap();
        let elf = toolchain::build(&dir, target).unwrap_or_else(|e| panic!("{tag}: {e}"));
        let run = toolchain::run(&elf, target).unwrap_or_else(|e| panic!("{tag}: {e}"));
        run.stdout
    } else {
        let out = Command::new("gcc")
            .current_dir(&dir)
            .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"])
            .args(["main.c", "tl_kernels.c", "-o", "prog"])
            .output()
            .unwrap();
        assert!(out.status.success(), "gcc failed for {tag}:\n{}", String::from_utf8_lossy(&out.stderr));
        let run = Command::new(dir.join("prog")).output().unwrap();
        assert!(run.status.success(), "{tag}: the C program failed: {:?}", run.status);
        String::from_utf8(run.stdout).unwrap()
    };
    std::fs::remove_dir_all(&dir).ok();
    text.lines()
        .filter(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|l| (0..l.len() / 2).map(|i| u8::from_str_radix(&l[2 * i..2 * i + 2], 16).unwrap()).collect())
        .collect()
}

/// `tl_conv_params p` of a convolution.
#[allow(clippy::too_many_arguments)]
fn emit_conv_params(
    s: &mut String,
    k: (usize, usize),
    stride: (usize, usize),
    pad: (usize, usize),
    dil: (usize, usize),
    groups: usize,
    o: usize,
    izp: i32,
) {
    writeln!(
        s,
        "    tl_conv_params p = {{{}, {}, {}, {}, {}, {}, {}, {}, {groups}, {o}, {izp}}};",
        k.0, k.1, stride.0, stride.1, pad.0, pad.1, dil.0, dil.1
    )
    .unwrap();
}

fn geometry(
    k: (usize, usize),
    stride: (usize, usize),
    pad: (usize, usize),
    dil: (usize, usize),
    groups: usize,
    o: usize,
) -> ConvGeometry {
    ConvGeometry { kernel: k, stride, padding: pad, dilation: dil, groups, c_out: o, input_zp: 0 }
}

/// Random convolutions (any kernel 1..=5 per side, stride 1..=3, padding up to half the kernel and
/// beyond, dilation 1..=2, groups dividing the channels, up to 12 channels a side and sometimes 40)
/// through `tl_conv` on random output windows computed from the input windows covering them; a
/// quarter are 1x1 stride-1 unpadded single-group convolutions, which `tl_conv_1x1` computes too.
/// Every call gets its scratch area at a random misalignment, sized as the exporter sizes it (the
/// C library's own size is checked to equal it), and must not write past it.
fn conv_program(seed: u64, policy: RoundingPolicy, kernels: Kernels, cases: usize) -> Program {
    let mut r = Rand::new(seed);
    let mut prog = Program::new(kernels, policy);
    for case in 0..cases {
        let pointwise = case % 4 == 0;
        let (k, stride, pad, dil, h, w) = if pointwise {
            ((1, 1), (1, 1), (0, 0), (1, 1), r.size(1, 9), r.size(1, 9))
        } else {
            let square = r.chance(1, 2);
            rand_geometry(&mut r, &[1, 2, 3, 4, 5], square)
        };
        let groups_choices: Vec<usize> = (1..=4).collect();
        let groups = if pointwise || r.chance(1, 2) { 1 } else { r.pick(&groups_choices) };
        let wide = r.chance(1, 4);
        // K = 8 (eight input channels of a 1x1, two of a 2x2) has its own DSP block.
        let cg = if k.0 * k.1 <= 4 && r.chance(1, 4) {
            8 / (k.0 * k.1)
        } else {
            r.size(1, if wide { 40 } else { 12 } / groups)
        };
        let og = r.size(1, if wide { 40 } else { 12 } / groups);
        let (c, o) = (cg * groups, og * groups);
        let izp = r.int(-128, 127) as i32;
        let x = r.i8s(h * w * c, -128);
        let shape = [o, cg, k.0, k.1];
        let weight = r.i8s(o * cg * k.0 * k.1, -127);
        let bias = r.bias(o);
        let rq = r.requant(o, policy);
        let spec = Conv2dSpec { stride, padding: pad, dilation: dil, groups };
        let conv = QConv2d::from_parts(weight.clone(), shape, bias.clone(), spec, izp, rq.clone()).unwrap();
        let (want, od) = conv.forward(&x, Dims::new(1, c, h, w)).unwrap();
        let ctx = format!(
            "{policy:?} case {case}: conv k {k:?} s {stride:?} p {pad:?} d {dil:?} g {groups} {c}->{o} {h}x{w}"
        );
        let scratch = conv_scratch_bytes(kernels, &geometry(k, stride, pad, dil, groups, o), c);

        let ow = rand_window(&mut r, od.h, od.w);
        let iw = cover(&mut r, ow, (k.0, stride.0, pad.0, dil.0), (k.1, stride.1, pad.1, dil.1), h, w);
        writeln!(prog.c, "    {{").unwrap();
        emit_in_view(&mut prog.c, &mut r, "in", &x, c, h, w, iw);
        arr(&mut prog.c, "const int8_t", "wt", &oihw_to_ohwi(&weight, shape));
        arr(&mut prog.c, "const int32_t", "bias", &bias);
        emit_requant(&mut prog.c, "rq", &rq, o);
        emit_conv_params(&mut prog.c, k, stride, pad, dil, groups, o, izp);
        prog.word(&format!("tl_conv_scratch_bytes(&p, {c})"), scratch, &ctx);
        prog.scratch(&mut r, "scr", scratch);
        let out = emit_out_view(&mut prog.c, &mut r, "out", o, od.h, od.w, ow);
        writeln!(prog.c, "    tl_conv(&in, wt, bias, &p, &rq, &out, scr);").unwrap();
        prog.window("out", out, want.clone(), format!("{ctx} (tl_conv)"));
        prog.guard("scr", scratch, &format!("{ctx} (tl_conv)"));
        if pointwise {
            let out2 = emit_out_view(&mut prog.c, &mut r, "out2", o, od.h, od.w, ow);
            writeln!(prog.c, "    tl_conv_1x1(&in, wt, bias, &p, &rq, &out2, scr);").unwrap();
            prog.window("out2", out2, want, format!("{ctx} (tl_conv_1x1)"));
            prog.guard("scr", scratch, &format!("{ctx} (tl_conv_1x1)"));
        }
        writeln!(prog.c, "    }}").unwrap();
    }
    prog
}

/// Random depthwise convolutions, by thirds: `tl_depthwise` on random output windows (two thirds of
/// them 3x3, 5x5, 7x7, the DSP cases when the stride is 1 or 2 and the dilation 1; others 1, 2, 4 and
/// rectangular kernels), `tl_depthwise_multiplier` with depth multipliers 1..=3, and whole tensors
/// through `tl_depthwise` and then `tl_depthwise_inplace` (strides 1 and 2, padding). Up to 12
/// channels (blocks of four and their tails), and a fifth of the maps wider than one 32-pixel
/// segment of the DSP kernel. Scratch areas as in [`conv_program`].
fn depthwise_program(seed: u64, policy: RoundingPolicy, kernels: Kernels, cases: usize) -> Program {
    let mut r = Rand::new(seed);
    let mut prog = Program::new(kernels, policy);
    for case in 0..cases {
        let kind = case % 3; // 0: depthwise on a window, 1: with a multiplier, 2: in place
        let (k, stride, pad, dil, h, mut w) = match kind {
            0 if r.chance(2, 3) => rand_geometry(&mut r, &[3, 5, 7], true),
            0 => {
                let square = r.chance(1, 2);
                rand_geometry(&mut r, &[1, 2, 3, 4, 5, 7], square)
            }
            1 => {
                let square = r.chance(1, 2);
                rand_geometry(&mut r, &[1, 2, 3, 5], square)
            }
            _ => loop {
                let g = rand_geometry(&mut r, &[1, 3, 5, 7], true);
                if g.1.0 == g.1.1 && g.1.0 <= 2 && g.3 == (1, 1) {
                    break g;
                }
            },
        };
        if kind != 1 && r.chance(1, 5) {
            w = r.size(40, 75);
        }
        let c = r.size(1, 12);
        let mult = if kind == 1 { r.size(1, 3) } else { 1 };
        let o = c * mult;
        let izp = r.int(-128, 127) as i32;
        let x = r.i8s(h * w * c, -128);
        let weight = r.i8s(o * k.0 * k.1, -127);
        let bias = r.bias(o);
        let rq = r.requant(o, policy);
        let spec = Conv2dSpec { stride, padding: pad, dilation: dil, groups: c };
        let dw = QDepthwiseConv2d::from_parts(weight.clone(), [o, 1, k.0, k.1], bias.clone(), spec, izp, rq.clone())
            .unwrap();
        let (want, od) = dw.forward(&x, Dims::new(1, c, h, w)).unwrap();
        let ctx =
            format!("{policy:?} case {case}: depthwise k {k:?} s {stride:?} p {pad:?} d {dil:?} c {c} x{mult} {h}x{w}");
        let g = geometry(k, stride, pad, dil, c, o);

        writeln!(prog.c, "    {{").unwrap();
        arr(&mut prog.c, "const int8_t", "wt", &o1hw_to_hwo(&weight, o, k.0 * k.1));
        arr(&mut prog.c, "const int32_t", "bias", &bias);
        emit_requant(&mut prog.c, "rq", &rq, o);
        emit_conv_params(&mut prog.c, k, stride, pad, dil, c, o, izp);
        if kind == 1 {
            let ow = rand_window(&mut r, od.h, od.w);
            let iw = cover(&mut r, ow, (k.0, stride.0, pad.0, dil.0), (k.1, stride.1, pad.1, dil.1), h, w);
            emit_in_view(&mut prog.c, &mut r, "in", &x, c, h, w, iw);
            let out = emit_out_view(&mut prog.c, &mut r, "out", o, od.h, od.w, ow);
            writeln!(prog.c, "    tl_depthwise_multiplier(&in, wt, bias, &p, &rq, &out);").unwrap();
            prog.window("out", out, want, format!("{ctx} (tl_depthwise_multiplier)"));
        } else {
            let ow = if kind == 0 { rand_window(&mut r, od.h, od.w) } else { Win::full(od.h, od.w) };
            let iw = if kind == 0 {
                cover(&mut r, ow, (k.0, stride.0, pad.0, dil.0), (k.1, stride.1, pad.1, dil.1), h, w)
            } else {
                Win::full(h, w)
            };
            let scratch = depthwise_scratch_bytes(kernels, &g, c, (h, w), (od.h, ow.w), false);
            prog.word(&format!("tl_depthwise_scratch_bytes(&p, {c}, {h}, {w}, {}, {}, 0)", od.h, ow.w), scratch, &ctx);
            prog.scratch(&mut r, "scr", scratch);
            emit_in_view(&mut prog.c, &mut r, "in", &x, c, h, w, iw);
            let out = emit_out_view(&mut prog.c, &mut r, "out", o, od.h, od.w, ow);
            writeln!(prog.c, "    tl_depthwise(&in, wt, bias, &p, &rq, &out, scr);").unwrap();
            prog.window("out", out, want.clone(), format!("{ctx} (tl_depthwise)"));
            prog.guard("scr", scratch, &format!("{ctx} (tl_depthwise)"));
            if kind == 2 {
                let scratch = depthwise_scratch_bytes(kernels, &g, c, (h, w), (od.h, od.w), true);
                prog.word(
                    &format!("tl_depthwise_scratch_bytes(&p, {c}, {h}, {w}, {}, {}, 1)", od.h, od.w),
                    scratch,
                    &ctx,
                );
                prog.scratch(&mut r, "ip", scratch);
                let mut io = x.clone();
                io.resize(x.len().max(want.len()), 0);
                arr(&mut prog.c, "int8_t", "io", &io);
                writeln!(
                    prog.c,
                    "    tl_depthwise_inplace(io, {h}, {w}, {c}, {}, {}, wt, bias, &p, &rq, ip);",
                    od.h, od.w
                )
                .unwrap();
                prog.bytes("io", want, format!("{ctx} (tl_depthwise_inplace)"));
                prog.guard("ip", scratch, &format!("{ctx} (tl_depthwise_inplace)"));
            }
        }
        writeln!(prog.c, "    }}").unwrap();
    }
    prog
}

/// Random fully connected layers (k 1..=70, sometimes up to 300; o 1..=12, random zero points and
/// clamps) through `tl_fully_connected`.
fn fully_connected_program(seed: u64, policy: RoundingPolicy, kernels: Kernels, cases: usize) -> Program {
    let mut r = Rand::new(seed);
    let mut prog = Program::new(kernels, policy);
    for _ in 0..cases {
        let k = if r.chance(1, 5) { r.size(71, 300) } else { r.size(1, 70) };
        let o = r.size(1, 12);
        let izp = r.int(-128, 127) as i32;
        let x = r.i8s(k, -128);
        let weight = r.i8s(o * k, -127);
        let bias = r.bias(o);
        let rq = r.requant(o, policy);
        let fc = QLinear::from_parts(weight.clone(), o, k, bias.clone(), izp, rq.clone()).unwrap();
        let want = fc.forward(&x, 1).unwrap();
        writeln!(prog.c, "    {{").unwrap();
        arr(&mut prog.c, "const int8_t", "x", &x);
        arr(&mut prog.c, "const int8_t", "wt", &weight);
        arr(&mut prog.c, "const int32_t", "bias", &bias);
        emit_requant(&mut prog.c, "rq", &rq, o);
        arr(&mut prog.c, "int8_t", "out", &vec![0i8; o]);
        writeln!(prog.c, "    tl_fully_connected(x, {izp}, {k}, wt, bias, {o}, &rq, out);").unwrap();
        prog.bytes("out", want, format!("{policy:?}: fc {k}->{o}"));
        writeln!(prog.c, "    }}").unwrap();
    }
    prog
}

/// Both builds of the library: the portable kernels and the DSP ones (on the host, on the plain-C
/// versions of the DSP instructions).
const BOTH: [Kernels; 2] = [Kernels::Portable, Kernels::Dsp];

/// `tl_conv` and `tl_conv_1x1` equal `QConv2d` on 40 random cases per rounding policy
/// ([`conv_program`]), in both builds of the library on the host.
#[test]
fn conv_matches_rust_on_windows() {
    if skip_without_gcc("conv_matches_rust_on_windows") {
        return;
    }
    for (pi, policy) in POLICIES.into_iter().enumerate() {
        for kernels in BOTH {
            let prog = conv_program(100 + pi as u64, policy, kernels, 40);
            let pointwise = prog.c.matches("tl_conv_1x1(").count();
            assert!(pointwise >= 5, "too few 1x1 cases");
            prog.run("conv", Target::Host);
        }
    }
}

/// `tl_depthwise`, `tl_depthwise_multiplier` and `tl_depthwise_inplace` equal `QDepthwiseConv2d` on
/// 45 random cases per rounding policy ([`depthwise_program`]), in both builds on the host.
#[test]
fn depthwise_matches_rust_on_windows_and_in_place() {
    if skip_without_gcc("depthwise_matches_rust_on_windows_and_in_place") {
        return;
    }
    for (pi, policy) in POLICIES.into_iter().enumerate() {
        for kernels in BOTH {
            depthwise_program(200 + pi as u64, policy, kernels, 45).run("dw", Target::Host);
        }
    }
}

/// `tl_fully_connected` equals `QLinear` on 40 random cases per policy, in both builds on the host.
#[test]
fn fully_connected_matches_rust() {
    if skip_without_gcc("fully_connected_matches_rust") {
        return;
    }
    for (pi, policy) in POLICIES.into_iter().enumerate() {
        for kernels in BOTH {
            fully_connected_program(300 + pi as u64, policy, kernels, 40).run("fc", Target::Host);
        }
    }
}

/// On the emulated Cortex-M4 (mps2-an386) and Cortex-M7 (mps2-an500), the DSP kernels (SXTB16 /
/// SMLAD through arm_acle.h) and their portable twins give the same bytes as the Rust engine, hence
/// as each other, on random convolutions (generic, 1x1), depthwise convolutions (the 3x3 / 5x5 / 7x7
/// DSP cases, their fallbacks, in place), fully connected layers and additions, under both rounding
/// policies:
/// one image per target, build and policy (8 builds and qemu runs). The scratch sizes the C library
/// computes equal the exporter's, and no kernel writes past its scratch area.
#[test]
fn dsp_kernels_equal_their_portable_twins_on_cortex_m() {
    for target in [Target::CortexM4, Target::CortexM7] {
        if !toolchain::available_or_skip(target, "dsp_kernels_equal_their_portable_twins_on_cortex_m") {
            return;
        }
    }
    let t = std::time::Instant::now();
    let jobs: Vec<(Target, Kernels, usize)> = [Target::CortexM4, Target::CortexM7]
        .into_iter()
        .flat_map(|t| BOTH.into_iter().flat_map(move |k| [(t, k, 0), (t, k, 1)]))
        .collect();
    std::thread::scope(|s| {
        for chunk in jobs.chunks(jobs.len().div_ceil(2)) {
            s.spawn(move || {
                for &(target, kernels, pi) in chunk {
                    let policy = POLICIES[pi];
                    let seed = 1000 + pi as u64;
                    let mut prog = conv_program(seed, policy, kernels, 24);
                    let dw = depthwise_program(seed + 10, policy, kernels, 30);
                    let fc = fully_connected_program(seed + 20, policy, kernels, 12);
                    let add = add_program(seed + 30, policy, kernels, 12);
                    for part in [dw, fc, add] {
                        let body = &part.c[prologue().len()..];
                        prog.c.push_str(body);
                        prog.checks.extend(part.checks);
                    }
                    prog.run("mcu", target);
                }
            });
        }
    });
    eprintln!("dsp_kernels_equal_their_portable_twins_on_cortex_m: {:.1} s", t.elapsed().as_secs_f64());
}

/// Random TFLite additions (scales over three decades, zero points, clamps) through `tl_add` on
/// random output windows read from two differently placed and strided input windows covering them.
fn add_program(seed: u64, policy: RoundingPolicy, kernels: Kernels, cases: usize) -> Program {
    let mut r = Rand::new(seed);
    let mut prog = Program::new(kernels, policy);
    for case in 0..cases {
        let (h, w, c) = (r.size(1, 9), r.size(1, 9), r.size(1, 12));
        let q = |r: &mut Rand| ((1e-3 * 1e3f64.powf(r.unit())) as f32, r.int(-128, 127) as i32);
        let (a_q, b_q, o_q) = (q(&mut r), q(&mut r), q(&mut r));
        let lo = if r.chance(1, 2) { -128 } else { o_q.1 };
        let qa = QAdd::new(a_q, b_q, o_q, lo, 127, policy).unwrap();
        let (a, b) = (r.i8s(h * w * c, -128), r.i8s(h * w * c, -128));
        let want = qa.forward(&a, &b).unwrap();
        let ow = rand_window(&mut r, h, w);
        let id = (1, 1, 0, 1);
        let aw = cover(&mut r, ow, id, id, h, w);
        let bw = cover(&mut r, ow, id, id, h, w);
        writeln!(prog.c, "    {{").unwrap();
        emit_in_view(&mut prog.c, &mut r, "a", &a, c, h, w, aw);
        emit_in_view(&mut prog.c, &mut r, "b", &b, c, h, w, bw);
        let [m1, m2] = qa.input_multipliers;
        let mo = qa.output_multiplier;
        writeln!(
            prog.c,
            "    tl_add_params p = {{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}}};",
            qa.input_zero_points[0],
            qa.input_zero_points[1],
            m1.multiplier,
            m2.multiplier,
            mo.multiplier,
            m1.shift,
            m2.shift,
            mo.shift,
            qa.output_zero_point,
            qa.act_min,
            qa.act_max
        )
        .unwrap();
        let out = emit_out_view(&mut prog.c, &mut r, "out", c, h, w, ow);
        writeln!(prog.c, "    tl_add(&a, &b, &p, &out);").unwrap();
        prog.window("out", out, want, format!("{policy:?} case {case}: add {h}x{w}x{c} {a_q:?} + {b_q:?} -> {o_q:?}"));
        writeln!(prog.c, "    }}").unwrap();
    }
    prog
}

/// `tl_add` equals `QAdd` on 40 random cases per policy ([`add_program`]), in both builds on the host.
#[test]
fn add_matches_rust_on_windows() {
    if skip_without_gcc("add_matches_rust_on_windows") {
        return;
    }
    for (pi, policy) in POLICIES.into_iter().enumerate() {
        for kernels in BOTH {
            add_program(400 + pi as u64, policy, kernels, 40).run("add", Target::Host);
        }
    }
}

/// `tl_max_pool` and `tl_avg_pool` (kernel 1..=5, stride 1..=3, padding up to half the kernel, up to
/// 40 channels so the average's channel blocks split) equal `pool::max_pool` / `pool::avg_pool` on
/// random output windows; `tl_global_avg_pool` equals `pool::global_avg_pool` (including all -128 and
/// all 127 maps); `tl_clamp` equals a plain clamp.
#[test]
fn pools_and_clamp_match_rust() {
    if skip_without_gcc("pools_and_clamp_match_rust") {
        return;
    }
    let mut r = Rand::new(500);
    let mut main_c = prologue();
    let mut checks = Vec::new();
    let mut plain: Vec<(Vec<i8>, String)> = Vec::new();
    let mut lines = Vec::new();
    for case in 0..60 {
        let (k, stride) = (r.size(1, 5), r.size(1, 3));
        let pad = r.size(0, k / 2);
        let c = if r.chance(1, 4) { r.size(13, 40) } else { r.size(1, 12) };
        let (h, w) = loop {
            let (h, w) = (r.size(1, 9), r.size(1, 9));
            if h + 2 * pad >= k && w + 2 * pad >= k {
                break (h, w);
            }
        };
        let x = r.i8s(h * w * c, -128);
        let spec = Pool2dSpec { kernel: k, stride, padding: pad };
        let d = Dims::new(1, c, h, w);
        let zp = r.int(-128, 127) as i32;
        let max = case % 2 == 0;
        let (want, od) =
            if max { pool::max_pool(&x, d, spec).unwrap() } else { pool::avg_pool(&x, d, spec, zp).unwrap() };
        let ow = rand_window(&mut r, od.h, od.w);
        let geo = (k, stride, pad, 1);
        let iw = cover(&mut r, ow, geo, geo, h, w);
        writeln!(main_c, "    {{").unwrap();
        emit_in_view(&mut main_c, &mut r, "in", &x, c, h, w, iw);
        writeln!(main_c, "    tl_pool_params p = {{{k}, {stride}, {pad}}};").unwrap();
        let out = emit_out_view(&mut main_c, &mut r, "out", c, od.h, od.w, ow);
        if max {
            writeln!(main_c, "    tl_max_pool(&in, &p, &out);").unwrap();
        } else {
            writeln!(main_c, "    tl_avg_pool(&in, &p, {zp}, &out);").unwrap();
        }
        dump_out(&mut main_c, "out", &out);
        writeln!(main_c, "    }}").unwrap();
        lines.push((checks.len(), false));
        let what = if max { "max" } else { "avg" };
        checks.push((out, want, format!("case {case}: {what} pool k {k} s {stride} p {pad} zp {zp} {h}x{w}x{c}")));
    }
    for case in 0..20 {
        let (h, w, c) = (r.size(1, 9), r.size(1, 9), r.size(1, 40));
        let x = match case {
            0 => vec![-128; h * w * c],
            1 => vec![127; h * w * c],
            _ => r.i8s(h * w * c, -128),
        };
        let (want, _) = pool::global_avg_pool(&x, Dims::new(1, c, h, w)).unwrap();
        writeln!(main_c, "    {{").unwrap();
        arr(&mut main_c, "const int8_t", "x", &x);
        arr(&mut main_c, "int8_t", "out", &vec![0i8; c]);
        writeln!(main_c, "    tl_global_avg_pool(x, {h}, {w}, {c}, out);\n    dump(out, {c});\n    }}").unwrap();
        lines.push((plain.len(), true));
        plain.push((want, format!("case {case}: global avg pool {h}x{w}x{c}")));
    }
    for case in 0..10 {
        let n = r.size(1, 50);
        let lo = r.int(-128, 127) as i32;
        let hi = r.int(lo as i64, 127) as i32;
        let x = r.i8s(n, -128);
        let want: Vec<i8> = x.iter().map(|&v| (v as i32).clamp(lo, hi) as i8).collect();
        writeln!(main_c, "    {{").unwrap();
        arr(&mut main_c, "int8_t", "x", &x);
        writeln!(main_c, "    tl_clamp(x, {n}, {lo}, {hi});\n    dump(x, {n});\n    }}").unwrap();
        lines.push((plain.len(), true));
        plain.push((want, format!("case {case}: clamp [{lo}, {hi}]")));
    }
    main_c.push_str("    return 0;\n}\n");
    let got = compile_and_run("pool", &main_c, &[]);
    assert_eq!(got.len(), lines.len());
    for (g, &(i, is_plain)) in got.iter().zip(&lines) {
        if is_plain {
            let (want, ctx) = &plain[i];
            assert_eq!(&as_i8(g), want, "{ctx}");
        } else {
            let (out, want, ctx) = &checks[i];
            out.check(g, want, ctx);
        }
    }
}

/// The library compiles warning-free for a Cortex-M4 and a Cortex-M7 under both policies and both
/// builds (portable, DSP) and needs nothing from the C library but memset / memcpy: no malloc, no
/// float or 64-bit division helpers. Skipped without arm-none-eabi-gcc.
#[test]
fn compiles_for_cortex_m4_without_runtime_helpers() {
    if !tinylab_mcu_export::toolchain::tool_or_skip(
        "arm-none-eabi-gcc",
        "compiles_for_cortex_m4_without_runtime_helpers",
    ) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("tl_c_kernels_arm_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tl_kernels.h"), KERNELS_H).unwrap();
    for target in [Target::CortexM4, Target::CortexM7] {
        for (pi, policy) in POLICIES.into_iter().enumerate() {
            for kernels in BOTH {
                let src = format!("k_{target}_{pi}_{kernels}.c");
                let obj = format!("k_{target}_{pi}_{kernels}.o");
                std::fs::write(dir.join(&src), kernels_source(kernels, policy)).unwrap();
                let out = Command::new("arm-none-eabi-gcc")
                    .current_dir(&dir)
                    .args(target.cpu_flags().split_whitespace())
                    .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-c"])
                    .args([src.as_str(), "-o", &obj])
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{target} {policy:?} {kernels}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let nm = Command::new("arm-none-eabi-nm").current_dir(&dir).args(["-u", &obj]).output().unwrap();
                let text = String::from_utf8(nm.stdout).unwrap();
                let undefined: Vec<&str> = text.split_whitespace().filter(|w| *w != "U").collect();
                assert!(
                    undefined.iter().all(|s| ["memset", "memcpy"].contains(s)),
                    "{target} {policy:?} {kernels}: the kernels need runtime symbols {undefined:?}"
                );
            }
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}
