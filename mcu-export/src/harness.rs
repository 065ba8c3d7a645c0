//! The test harness of an exported model: the test data (`testdata.h` / `testdata.c`, inputs and
//! expected outputs as `const` arrays in flash), the driver (`main.c`, the same for the host and
//! Cortex-M) and the parser of what the driver prints.
//!
//! The driver prints, for every sample `i`, `out <i> <hex>` (the output bytes as lowercase hex, two
//! digits per byte, two's complement) and `cycles <i> <n>` (SysTick ticks of the invoke on Cortex-M,
//! 0 on the host), once `timer_overhead <n>` (the ticks of an empty measurement), `error <i> <code>`
//! when `model_invoke` returns non-zero, and finally `mismatches <n>`; its exit code is
//! `min(n, 100)`.

use crate::error::{Result, arg_err, io_err};
use std::fmt::Write as _;
use std::path::Path;

/// The test driver, copied into every export.
pub const MAIN_C: &str = include_str!("../c/main.c");

/// Writes `testdata.h` and `testdata.c` into `dir`: `TL_N_SAMPLES`, `tl_test_inputs` and
/// `tl_test_expected`. Every input must have one length and every expected output another (the
/// model's `TL_INPUT_SIZE` and `TL_OUTPUT_SIZE`: testdata.c refuses to compile otherwise), and there
/// must be at least one sample.
pub fn write_testdata(dir: &Path, inputs: &[Vec<i8>], expected: &[Vec<i8>]) -> Result<()> {
    let what = "write_testdata";
    if inputs.is_empty() {
        return Err(arg_err(what, "no test samples"));
    }
    if inputs.len() != expected.len() {
        return Err(arg_err(what, format!("{} inputs but {} expected outputs", inputs.len(), expected.len())));
    }
    let in_len = uniform_len(inputs, "input")?;
    let out_len = uniform_len(expected, "expected output")?;
    let n = inputs.len();

    let header = format!(
        "/* Test samples of the exported model. Written by tinylab-mcu-export. */\n\
         #ifndef TL_TESTDATA_H\n#define TL_TESTDATA_H\n\n#include <stdint.h>\n\n#include \"model.h\"\n\n\
         #define TL_N_SAMPLES {n}\n\n\
         extern const int8_t tl_test_inputs[TL_N_SAMPLES][TL_INPUT_SIZE];\n\
         extern const int8_t tl_test_expected[TL_N_SAMPLES][TL_OUTPUT_SIZE];\n\n#endif /* TL_TESTDATA_H */\n"
    );
    let mut source = String::with_capacity(64 + 5 * n * (in_len + out_len));
    source.push_str("/* Test samples of the exported model. Written by tinylab-mcu-export. */\n");
    source.push_str("#include \"testdata.h\"\n\n");
    // Negative array sizes (C99 has no static assertions) when model.h disagrees with the data.
    let _ = writeln!(
        source,
        "typedef char tl_testdata_input_size_is_{in_len}[(TL_INPUT_SIZE == {in_len}) ? 1 : -1];\n\
         typedef char tl_testdata_output_size_is_{out_len}[(TL_OUTPUT_SIZE == {out_len}) ? 1 : -1];\n"
    );
    write_array(&mut source, "tl_test_inputs", "TL_INPUT_SIZE", inputs);
    source.push('\n');
    write_array(&mut source, "tl_test_expected", "TL_OUTPUT_SIZE", expected);

    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let h = dir.join("testdata.h");
    std::fs::write(&h, header).map_err(io_err(h))?;
    let c = dir.join("testdata.c");
    std::fs::write(&c, source).map_err(io_err(c))
}

/// The common length of `rows`, or an error naming the first row that differs (or an empty one).
fn uniform_len(rows: &[Vec<i8>], name: &str) -> Result<usize> {
    let len = rows[0].len();
    if len == 0 {
        return Err(arg_err("write_testdata", format!("{name} 0 is empty")));
    }
    if let Some((i, row)) = rows.iter().enumerate().find(|(_, r)| r.len() != len) {
        return Err(arg_err("write_testdata", format!("{name} {i} has {} bytes but {name} 0 has {len}", row.len())));
    }
    Ok(len)
}

/// `const int8_t name[TL_N_SAMPLES][size] = { {...}, ... };`, 16 values a line.
fn write_array(out: &mut String, name: &str, size: &str, rows: &[Vec<i8>]) {
    let _ = writeln!(out, "const int8_t {name}[TL_N_SAMPLES][{size}] = {{");
    for row in rows {
        out.push_str("    {");
        for (k, v) in row.iter().enumerate() {
            if k % 16 == 0 {
                out.push_str("\n        ");
            }
            let _ = write!(out, "{v},");
            if k % 16 != 15 && k + 1 != row.len() {
                out.push(' ');
            }
        }
        out.push_str("\n    },\n");
    }
    out.push_str("};\n");
}

/// The profiling hooks header (`c/tl_profile.h`).
pub const PROFILE_H: &str = include_str!("../c/tl_profile.h");

/// Turns an export directory (already written for a Cortex-M target) into a profiling build:
/// `tl_profile.h` is added and the Makefile defines `TL_PROFILE`, so every op's kernel calls are timed
/// and the test driver ([`MAIN_C`]) prints their counts ([`parse_profile`] reads them).
pub fn write_profile_driver(dir: &Path) -> Result<()> {
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(io_err(path))
    };
    write("tl_profile.h", PROFILE_H)?;
    let path = dir.join("Makefile");
    let makefile = std::fs::read_to_string(&path).map_err(io_err(&path))?;
    if !makefile.contains("EXTRA_CFLAGS ?=\n") {
        return Err(arg_err("write_profile_driver", format!("{} has no `EXTRA_CFLAGS ?=` line", path.display())));
    }
    write("Makefile", &makefile.replace("EXTRA_CFLAGS ?=\n", "EXTRA_CFLAGS ?= -DTL_PROFILE=1\n"))
}

/// One op's line of a profiling build's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpProfile {
    /// The op's index.
    pub op: usize,
    /// Kernel calls over all samples (one per patch in a patch stage).
    pub calls: u64,
    /// SysTick ticks of those calls, the brackets' own cost included.
    pub ticks: u64,
}

/// A profiling build's lines: the cost of one empty bracket in ticks and every op's counts.
pub fn parse_profile(text: &str) -> Result<(u64, Vec<OpProfile>)> {
    let mut overhead = None;
    let mut ops = Vec::new();
    for (lineno, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let bad = || arg_err("profile output", format!("line {}: malformed `{line}`", lineno + 1));
        let n = |s: &str| s.parse::<u64>().map_err(|_| bad());
        match f.as_slice() {
            ["profile_overhead", t] => overhead = Some(n(t)?),
            ["op", i, calls, ticks] => {
                let op = n(i)? as usize;
                if op != ops.len() {
                    return Err(bad());
                }
                ops.push(OpProfile { op, calls: n(calls)?, ticks: n(ticks)? });
            }
            ["profile_overhead", ..] | ["op", ..] => return Err(bad()),
            _ => {}
        }
    }
    let overhead = overhead.ok_or_else(|| arg_err("profile output", "no `profile_overhead` line"))?;
    Ok((overhead, ops))
}

/// Writes the test driver `main.c` into `dir`.
pub fn write_main(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let path = dir.join("main.c");
    std::fs::write(&path, MAIN_C).map_err(io_err(path))
}

/// What the driver printed, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DriverOutput {
    /// The output bytes of every sample, in sample order.
    pub outputs: Vec<Vec<i8>>,
    /// The timer count of every sample's invoke (SysTick ticks on Cortex-M, 0 on the host).
    pub cycles: Vec<u64>,
    /// The count of an empty measurement (two timer reads back to back); 0 when not printed.
    pub timer_overhead: u64,
    /// Samples whose `model_invoke` returned non-zero, with the code.
    pub errors: Vec<(usize, i32)>,
    /// The final mismatch count; `None` when the program stopped before printing it.
    pub mismatches: Option<usize>,
}

/// Parses the driver's output. Lines that do not start with one of its keywords (`out`, `cycles`,
/// `timer_overhead`, `error`, `mismatches`) are ignored, so a model may print its own; a keyword line
/// that is malformed, or `out` / `cycles` lines whose indices are not 0, 1, 2, ... in order, are
/// errors.
pub fn parse_output(text: &str) -> Result<DriverOutput> {
    let what = "driver output";
    let mut parsed = DriverOutput::default();
    for (lineno, line) in text.lines().enumerate() {
        let mut fields = line.split_whitespace();
        let keyword = fields.next().unwrap_or("");
        if !matches!(keyword, "out" | "cycles" | "timer_overhead" | "error" | "mismatches") {
            continue;
        }
        let args: Vec<&str> = fields.collect();
        let bad = || arg_err(what, format!("line {}: malformed `{line}`", lineno + 1));
        let number = |s: &str| s.parse::<u64>().map_err(|_| bad());
        match (keyword, args.as_slice()) {
            ("out", [i, hex]) => {
                check_index(number(i)?, parsed.outputs.len(), "out", line)?;
                parsed.outputs.push(parse_hex(hex).ok_or_else(bad)?);
            }
            ("cycles", [i, n]) => {
                check_index(number(i)?, parsed.cycles.len(), "cycles", line)?;
                parsed.cycles.push(number(n)?);
            }
            ("timer_overhead", [n]) => parsed.timer_overhead = number(n)?,
            ("error", [i, code]) => {
                let code = code.parse::<i32>().map_err(|_| bad())?;
                parsed.errors.push((number(i)? as usize, code));
            }
            ("mismatches", [n]) => parsed.mismatches = Some(number(n)? as usize),
            _ => return Err(bad()),
        }
    }
    Ok(parsed)
}

/// An error unless `index` is the next expected one.
fn check_index(index: u64, expected: usize, keyword: &str, line: &str) -> Result<()> {
    if index != expected as u64 {
        return Err(arg_err(
            "driver output",
            format!("`{keyword}` line for sample {index} where sample {expected} was expected: `{line}`"),
        ));
    }
    Ok(())
}

/// Lowercase (or uppercase) hex, two digits per byte, into two's complement bytes; `None` if malformed.
fn parse_hex(hex: &str) -> Option<Vec<i8>> {
    if !hex.len().is_multiple_of(2) || !hex.is_ascii() {
        return None;
    }
    (0..hex.len()).step_by(2).map(|k| u8::from_str_radix(&hex[k..k + 2], 16).ok().map(|b| b as i8)).collect()
}

/// Formats bytes as the driver does (lowercase hex, two digits per byte, two's complement): the
/// reference the tests compare the C output against.
pub fn to_hex(bytes: &[i8]) -> String {
    bytes.iter().fold(String::with_capacity(2 * bytes.len()), |mut s, &b| {
        let _ = write!(s, "{:02x}", b as u8);
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn hex_round_trips(bytes in proptest::collection::vec(any::<i8>(), 1..64)) {
            prop_assert_eq!(parse_hex(&to_hex(&bytes)), Some(bytes));
        }
    }

    #[test]
    fn parses_driver_lines() {
        let text =
            "hello\nout 0 00ff7f80\ncycles 0 12\nerror 1 -3\nout 1 01\ncycles 1 7\ntimer_overhead 5\nmismatches 1\n";
        let p = parse_output(text).unwrap();
        assert_eq!(p.outputs, vec![vec![0, -1, 127, -128], vec![1]]);
        assert_eq!(p.cycles, vec![12, 7]);
        assert_eq!(p.errors, vec![(1, -3)]);
        assert_eq!(p.timer_overhead, 5);
        assert_eq!(p.mismatches, Some(1));
        assert!(parse_output("out 1 00\n").is_err());
        assert!(parse_output("out 0 0\n").is_err());
        assert!(parse_output("out 0 zz\n").is_err());
        assert!(parse_output("mismatches\n").is_err());
        assert_eq!(parse_output("outline 3\n").unwrap(), DriverOutput::default());
    }

    #[test]
    fn testdata_checks_lengths() {
        let dir = std::env::temp_dir().join(format!("tl-harness-unit-{}", std::process::id()));
        assert!(write_testdata(&dir, &[], &[]).is_err());
        assert!(write_testdata(&dir, &[vec![1, 2], vec![3]], &[vec![1], vec![2]]).is_err());
        assert!(write_testdata(&dir, &[vec![1], vec![3]], &[vec![1], vec![2, 3]]).is_err());
        assert!(write_testdata(&dir, &[vec![]], &[vec![1]]).is_err());
        assert!(write_testdata(&dir, &[vec![1]], &[vec![1], vec![2]]).is_err());
        write_testdata(&dir, &[vec![-128, 127]], &[vec![5]]).unwrap();
        let c = std::fs::read_to_string(dir.join("testdata.c")).unwrap();
        assert!(c.contains("-128, 127,"), "{c}");
        assert!(c.contains("(TL_INPUT_SIZE == 2)"), "{c}");
        let h = std::fs::read_to_string(dir.join("testdata.h")).unwrap();
        assert!(h.contains("#define TL_N_SAMPLES 1"), "{h}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
