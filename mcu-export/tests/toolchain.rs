//! The build targets, toolchain driver and test harness end to end, with a fake model (it adds 1 to
//! every byte, and on Cortex-M spins a counted loop): builds and runs on the host (gcc) and under qemu
//! (Cortex-M4 on mps2-an386, Cortex-M7 on mps2-an500). Tests that need a tool skip with a note when it
//! is absent.
// Skip notes and measured numbers go to stderr (shown with --nocapture).
#![allow(clippy::print_stderr)]

use std::path::PathBuf;
use std::time::{Duration, Instant};
use tinylab_mcu_export::ExportError;
use tinylab_mcu_export::harness::{self, write_main, write_testdata};
use tinylab_mcu_export::target::{Board, HEAP_BYTES, STACK_BYTES, Target, write_target_files};
use tinylab_mcu_export::toolchain::{self, build, find_tool, find_tool_in, run, run_with_timeout, size};

/// Instructions per unit of `input[0]` that the fake model spins on Cortex-M (`subs` + `bne` per
/// iteration, SPIN_PER_UNIT iterations per unit).
const SPIN_PER_UNIT: u64 = 20_000;

/// The fake model's header: `in_len` input bytes, as many output bytes, an arena of `arena` bytes.
fn model_h(len: usize, arena: usize) -> String {
    format!(
        "#ifndef MODEL_H\n#define MODEL_H\n#include <stdint.h>\n#define TL_INPUT_SIZE {len}\n\
         #define TL_OUTPUT_SIZE {len}\n#define TL_ARENA_SIZE {arena}\n\
         int model_invoke(const int8_t *input, int8_t *output);\n#endif\n"
    )
}

/// The fake model: output = input + 1 (wrapping), through the arena; on Cortex-M it first spins
/// `(uint8_t)input[0] * SPIN_PER_UNIT` iterations of a two-instruction loop.
fn model_c() -> String {
    format!(
        r#"#include "model.h"
#include "tl_kernels.h"
int8_t tl_fake_arena[TL_ARENA_SIZE]; /* external linkage: kept whole, like a real arena */
int model_invoke(const int8_t *input, int8_t *output) {{
    int i;
#if defined(TL_CORTEX_M)
    uint32_t n = (uint32_t)(uint8_t)input[0] * {SPIN_PER_UNIT}u + 1u;
    __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
#endif
    for (i = 0; i < TL_INPUT_SIZE; i++) {{
        tl_fake_arena[i % TL_ARENA_SIZE] = (int8_t)(uint8_t)((uint8_t)input[i] + 1u);
        output[i] = tl_fake_arena[i % TL_ARENA_SIZE];
    }}
    return 0;
}}
"#
    )
}

/// A fresh export directory under cargo's temporary directory.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("toolchain-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes a complete export: the fake model (or `model_c`), the kernels, the driver, test data and
/// the target's build files.
fn export(
    name: &str,
    target: Target,
    board: &Board,
    model: &str,
    arena: usize,
    inputs: &[Vec<i8>],
    expected: &[Vec<i8>],
) -> PathBuf {
    let dir = fresh_dir(name);
    std::fs::write(dir.join("model.h"), model_h(inputs[0].len(), arena)).unwrap();
    std::fs::write(dir.join("model.c"), model).unwrap();
    std::fs::write(dir.join("tl_kernels.h"), tinylab_mcu_export::KERNELS_H).unwrap();
    std::fs::write(dir.join("tl_kernels.c"), tinylab_mcu_export::KERNELS_C).unwrap();
    write_main(&dir).unwrap();
    write_testdata(&dir, inputs, expected).unwrap();
    write_target_files(&dir, target, board).unwrap();
    dir
}

/// Sample `i` of `n`: `len` bytes covering -128..=127, the first byte (the spin count) = `first[i]`.
fn samples(first: &[u8], len: usize) -> Vec<Vec<i8>> {
    first
        .iter()
        .enumerate()
        .map(|(i, &f)| {
            let mut v: Vec<i8> = (0..len).map(|k| (k as i32 * 37 + i as i32 * 11 - 128) as i8).collect();
            v[0] = f as i8;
            v
        })
        .collect()
}

/// The independent reference of the fake model: every byte + 1, wrapping.
fn plus_one(inputs: &[Vec<i8>]) -> Vec<Vec<i8>> {
    inputs.iter().map(|v| v.iter().map(|b| b.wrapping_add(1)).collect()).collect()
}

/// Whether `target` can run here; prints a note when it cannot.
fn can_run(target: Target) -> bool {
    toolchain::available_or_skip(target, &format!("the {target} checks"))
}

/// Builds and runs the fake model on `target`: right outputs, exit code 0, then exit code = the
/// number of deliberately wrong expected samples; on Cortex-M also the instruction counts.
fn check_target(target: Target) {
    if !can_run(target) {
        return;
    }
    let first = [0u8, 1, 3, 255, 128];
    let inputs = samples(&first, 37);
    let expected = plus_one(&inputs);
    // The M7 runs on a board declared smaller than qemu's (128 KiB SRAM, 512 KiB flash): the stack
    // then starts at 0x20020000, inside the emulated memory.
    let board = match target {
        Target::CortexM7 => Board::new(128 * 1024, 512 * 1024).unwrap(),
        _ => Board::qemu(target),
    };
    let t = Instant::now();
    let dir = export(&format!("fake-{target}"), target, &board, &model_c(), 64, &inputs, &expected);
    let program = build(&dir, target).unwrap();
    let built = t.elapsed();
    let out = run(&dir, target).unwrap();
    eprintln!("{target}: build {:.2} s, run {:.3} s", built.as_secs_f64(), out.wall.as_secs_f64());
    assert_eq!(out.exit_code, 0, "{}", out.stdout);
    assert_eq!(out.mismatches, 0);
    assert!(out.errors.is_empty());
    assert_eq!(out.outputs, expected);
    for (line, e) in out.stdout.lines().filter(|l| l.starts_with("out ")).zip(&expected) {
        assert!(line.ends_with(&harness::to_hex(e)), "{line}");
    }

    if target.is_cortex_m() {
        assert!(out.cycles.iter().all(|&c| c > 0), "{:?}", out.cycles);
        assert!(out.timer_overhead > 0 && out.timer_overhead < 200, "{}", out.timer_overhead);
        // Determinism of -icount: a second run counts the same ticks.
        let again = run(&program, target).unwrap();
        assert_eq!(again.cycles, out.cycles);
        assert_eq!(again.instructions, out.instructions);
        // The spin loop: samples differ by 2 * SPIN_PER_UNIT instructions per unit of input[0]
        // (sample 3 spins 10 M instructions: SysTick wraps twice); the rest of the model is the
        // same code for every sample. The wrap handler and rounding add a few instructions.
        let base = out.instructions[0] as i64;
        for (i, &f) in first.iter().enumerate() {
            let want = 2 * SPIN_PER_UNIT as i64 * f as i64;
            let got = out.instructions[i] as i64 - base;
            assert!((got - want).abs() <= 24, "sample {i}: {got} extra instructions, want {want}");
        }
        // The model without spinning: a couple of hundred instructions for 37 bytes.
        assert!(out.instructions[0] > 37 && out.instructions[0] < 2000, "{:?}", out.instructions);
        eprintln!(
            "{target}: ticks {:?}, timer overhead {} ticks, instructions {:?}",
            out.cycles, out.timer_overhead, out.instructions
        );
    } else {
        assert!(out.cycles.iter().all(|&c| c == 0));
    }

    // Three deliberately wrong expected samples: exit code 3, outputs unchanged.
    let mut wrong = expected.clone();
    for i in [0, 2, 4] {
        wrong[i][i] = wrong[i][i].wrapping_add(1);
    }
    write_testdata(&dir, &inputs, &wrong).unwrap();
    let program = build(&dir, target).unwrap();
    let out = run(&program, target).unwrap();
    assert_eq!((out.exit_code, out.mismatches), (3, 3));
    assert_eq!(out.outputs, expected);
}

#[test]
fn host_builds_and_runs_the_fake_model() {
    check_target(Target::Host);
}

#[test]
fn cortex_m4_builds_and_runs_the_fake_model() {
    check_target(Target::CortexM4);
}

#[test]
fn cortex_m7_builds_and_runs_the_fake_model() {
    check_target(Target::CortexM7);
}

#[test]
fn exit_code_saturates_at_100() {
    if !can_run(Target::Host) {
        return;
    }
    let inputs = samples(&[7; 150], 4);
    let wrong: Vec<Vec<i8>> = inputs.clone();
    let dir = export("saturate", Target::Host, &Board::default(), &model_c(), 8, &inputs, &wrong);
    let out = run(&build(&dir, Target::Host).unwrap(), Target::Host).unwrap();
    assert_eq!((out.exit_code, out.mismatches), (100, 150));
    assert_eq!(out.outputs, plus_one(&inputs));
}

#[test]
fn testdata_of_the_wrong_size_does_not_compile() {
    if !can_run(Target::Host) {
        return;
    }
    let inputs = samples(&[1], 8);
    let dir = export("wrong-size", Target::Host, &Board::default(), &model_c(), 8, &inputs, &inputs);
    std::fs::write(dir.join("model.h"), model_h(9, 8)).unwrap();
    match build(&dir, Target::Host) {
        Err(ExportError::CommandFailed { output, .. }) => {
            assert!(output.contains("tl_testdata_input_size_is_8"), "{output}")
        }
        other => panic!("expected a compile error, got {other:?}"),
    }
}

#[test]
fn sizes_are_sensible() {
    let target = Target::CortexM4;
    if !can_run(target) {
        return;
    }
    let arena = 10_000;
    let inputs = samples(&[0; 20], 100);
    let dir = export("sizes", target, &Board::qemu(target), &model_c(), arena, &inputs, &plus_one(&inputs));
    let s = size(&build(&dir, target).unwrap()).unwrap();
    eprintln!("{target} sizes: {s:?}");
    // The test data (4,000 bytes) is in flash, next to newlib's printf (several KB) and the code.
    assert!(s.text > 4_000 + 2_000 && s.text < 64 * 1024, "{s:?}");
    assert!(s.data < 1024, "{s:?}");
    // The arena and little else (stdio's state) is bss.
    assert!(s.bss >= arena && s.bss < arena + 2048, "{s:?}");
    assert_eq!(s.reserved, STACK_BYTES + HEAP_BYTES);
    assert_eq!(s.flash(), s.text + s.data);
    assert_eq!(s.static_sram(), s.data + s.bss);
}

/// Links a model whose arena (bss) or test data (flash) exceeds a small board and returns the error.
fn link_error(name: &str, board: Board, arena: usize, n_samples: usize) -> String {
    let target = Target::CortexM4;
    let inputs = samples(&vec![0; n_samples], 256);
    let dir = export(name, target, &board, &model_c(), arena, &inputs, &plus_one(&inputs));
    match build(&dir, target) {
        Err(ExportError::CommandFailed { output, .. }) => output,
        other => panic!("expected a link error, got {other:?}"),
    }
}

#[test]
fn oversized_models_fail_to_link_naming_the_region() {
    if !can_run(Target::CortexM4) {
        return;
    }
    let board = Board::new(64 * 1024, 256 * 1024).unwrap();
    let out = link_error("too-much-sram", board, 128 * 1024, 1);
    assert!(out.contains("region `RAM' overflowed"), "{out}");
    // 64 samples of 256 + 256 bytes are 32 KB of flash, more than 16 KB.
    let board = Board::new(64 * 1024, 16 * 1024).unwrap();
    let out = link_error("too-much-flash", board, 64, 64);
    assert!(out.contains("region `FLASH' overflowed"), "{out}");
}

#[test]
fn a_fault_ends_the_run_with_an_error() {
    let target = Target::CortexM4;
    if !can_run(target) {
        return;
    }
    let model = "#include \"model.h\"\nint model_invoke(const int8_t *input, int8_t *output) {\n\
                 (void)input; (void)output;\n__asm__ volatile(\"udf #0\");\nreturn 0;\n}\n";
    let inputs = samples(&[0], 4);
    let dir = export("fault", target, &Board::qemu(target), model, 8, &inputs, &inputs);
    match run(&build(&dir, target).unwrap(), target) {
        Err(ExportError::CommandFailed { status, .. }) => assert!(status.contains("fault"), "{status}"),
        other => panic!("expected a fault, got {other:?}"),
    }
}

#[test]
fn hung_programs_time_out() {
    let model = "#include \"model.h\"\nint model_invoke(const int8_t *input, int8_t *output) {\n\
                 (void)input; (void)output;\nfor (;;) { __asm__ volatile(\"\"); }\n}\n";
    let inputs = samples(&[0], 4);
    for target in [Target::Host, Target::CortexM4] {
        if !can_run(target) {
            continue;
        }
        let dir = export(&format!("hang-{target}"), target, &Board::qemu(target), model, 8, &inputs, &inputs);
        let program = build(&dir, target).unwrap();
        let t = Instant::now();
        match run_with_timeout(&program, target, Duration::from_millis(700)) {
            Err(ExportError::CommandFailed { status, .. }) => assert!(status.contains("timed out"), "{status}"),
            other => panic!("expected a timeout, got {other:?}"),
        }
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}

#[test]
fn missing_tools_are_reported() {
    match find_tool_in("arm-none-eabi-gcc", std::ffi::OsStr::new("/nonexistent-dir")) {
        Err(ExportError::ToolMissing { tool, hint }) => {
            assert_eq!(tool, "arm-none-eabi-gcc");
            assert!(hint.contains("gcc-arm-none-eabi"), "{hint}");
        }
        other => panic!("expected ToolMissing, got {other:?}"),
    }
    match find_tool("qemu-system-arm-that-does-not-exist") {
        Err(ExportError::ToolMissing { hint, .. }) => assert!(hint.contains("qemu-system-arm"), "{hint}"),
        other => panic!("expected ToolMissing, got {other:?}"),
    }
    // A directory without a Makefile is an argument error, not a crash.
    let dir = fresh_dir("no-makefile");
    assert!(matches!(build(&dir, Target::Host), Err(ExportError::InvalidArgument { .. })));
    assert!(matches!(run(&dir, Target::Host), Err(ExportError::Io { .. })));
    // qemu's command line for the record.
    let args = toolchain::qemu_args(Target::CortexM4).join(" ");
    assert!(args.starts_with("-M mps2-an386 -cpu cortex-m4 -nographic"), "{args}");
}
