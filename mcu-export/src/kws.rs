//! Keyword spotting on the microcontroller: raw 16 kHz int16 audio -> the C MFCC front end
//! (`c/tl_mfcc.c`, bit-exact with `tinylab_classical::data::audio::mfcc`) -> an exported int8 model.
//!
//! - [`tables_header`]: `tl_mfcc_tables.h` from the Rust tables (the committed file must equal it).
//! - [`export_mfcc`]: a program that runs only the front end on test clips and prints the Q7 and int8
//!   MFCCs (for bit-exactness checks and instruction counts).
//! - [`export_kws`]: the whole path with any int8 model whose input is the `(1, 49, 10)` MFCC map (a
//!   small CNN in the tests; MLPerf Tiny's DS-CNN is the intended one). The front end's int8
//!   quantization (scale 2/3, zero point 58) is mapped to the model's input quantization by a
//!   256-entry table ([`input_table`]) computed here once, so the MCU path stays integer-only and the
//!   Rust expectation uses the same bytes.
//!
//! Both programs use the driver `c/kws_main.c`, whose output follows `c/main.c`'s format (see
//! `crate::harness`): [`crate::toolchain::run`] parses it, and [`parse_kws_lines`] reads the extra
//! `model_cycles` and `keyword` lines.

use crate::KERNELS_H;
use crate::codegen::{GeneratedModel, generate};
use crate::error::{Result, arg_err, io_err};
use crate::export::{ExportOptions, plan_for_board};
use crate::graph::McuGraph;
use crate::target::write_target_files;
use std::fmt::Write as _;
use std::path::Path;
use tinylab_classical::data::audio::mfcc::{
    self, CLIP_SAMPLES, INT8_SCALE, INT8_ZERO_POINT, MfccTables, N_FRAMES, N_MFCC, mfcc_int8, mfcc_q7,
};
use tinylab_classical::int8::Int8Model;

/// The C front end's header.
pub const MFCC_H: &str = include_str!("../c/tl_mfcc.h");
/// The C front end.
pub const MFCC_C: &str = include_str!("../c/tl_mfcc.c");
/// The committed tables of the C front end (see [`tables_header`]).
pub const MFCC_TABLES_H: &str = include_str!("../c/tl_mfcc_tables.h");
/// The driver of the front end and keyword-spotting programs.
pub const KWS_MAIN_C: &str = include_str!("../c/kws_main.c");

/// `static const <ty> <name>[n] = { ... };`, 12 values a line.
fn c_array(s: &mut String, ty: &str, name: &str, values: &[i64]) {
    let _ = write!(s, "static const {ty} {name}[{}] = {{", values.len());
    for (i, v) in values.iter().enumerate() {
        s.push_str(if i % 12 == 0 { "\n    " } else { " " });
        let _ = write!(s, "{v},");
    }
    s.push_str("\n};\n\n");
}

/// `tl_mfcc_tables.h`: every table of [`MfccTables`] as a `static const` C array.
pub fn tables_header(t: &MfccTables) -> String {
    let mut s = String::from(
        "/* Tables of the fixed-point MFCC (tl_mfcc.c). Written by tinylab-mcu-export (kws::tables_header)\n \
         * from tinylab-classical's data::audio::mfcc::tables: do not edit; a test checks this file\n \
         * equals what the Rust tables give. */\n#ifndef TL_MFCC_TABLES_H\n#define TL_MFCC_TABLES_H\n\n#include <stdint.h>\n\n",
    );
    let wide = |v: &[i16]| v.iter().map(|&x| i64::from(x)).collect::<Vec<_>>();
    c_array(&mut s, "int16_t", "tl_mfcc_window_q15", &wide(&t.window_q15));
    c_array(&mut s, "int16_t", "tl_mfcc_cos_q15", &wide(&t.cos_q15));
    c_array(&mut s, "int16_t", "tl_mfcc_sin_q15", &wide(&t.sin_q15));
    let first: Vec<i64> = t.mel_q15.iter().map(|f| f.first_bin as i64).collect();
    let len: Vec<i64> = t.mel_q15.iter().map(|f| f.weights.len() as i64).collect();
    let offset: Vec<i64> = len.iter().scan(0, |acc, &l| Some(std::mem::replace(acc, *acc + l))).collect();
    let weights: Vec<i64> = t.mel_q15.iter().flat_map(|f| wide(&f.weights)).collect();
    c_array(&mut s, "uint16_t", "tl_mfcc_mel_first_bin", &first);
    c_array(&mut s, "uint8_t", "tl_mfcc_mel_len", &len);
    c_array(&mut s, "uint16_t", "tl_mfcc_mel_offset", &offset);
    c_array(&mut s, "int16_t", "tl_mfcc_mel_weights_q15", &weights);
    let _ = writeln!(s, "static const int16_t tl_mfcc_dct_q15[{}][{}] = {{", t.dct_q15.len(), mfcc::N_MEL);
    for row in &t.dct_q15 {
        let _ = writeln!(s, "    {{{}}},", row.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", "));
    }
    s.push_str("};\n\n");
    c_array(&mut s, "int32_t", "tl_mfcc_log2_q16", &t.log2_q16.iter().map(|&v| i64::from(v)).collect::<Vec<_>>());
    s.push_str("#endif /* TL_MFCC_TABLES_H */\n");
    s
}

/// What the MFCC-only program must print for `clip`: its Q7 MFCCs as little-endian int16 bytes, then
/// its int8 MFCCs (the Rust implementation's).
pub fn mfcc_expected(clip: &[i16]) -> Result<Vec<i8>> {
    let q7 = mfcc_q7(clip).map_err(tinylab_classical::error::ClassicalError::from)?;
    let q8 = mfcc_int8(clip).map_err(tinylab_classical::error::ClassicalError::from)?;
    let mut out: Vec<i8> = q7.iter().flat_map(|v| v.to_le_bytes()).map(|b| b as i8).collect();
    out.extend(q8);
    Ok(out)
}

/// The table from the front end's int8 MFCC `q` (index `q as u8`) to the model's input integer:
/// `clamp(round((q - 58) * (2/3) / scale) + zero_point, -128, 127)`; the identity when the model's
/// input quantization is the front end's.
pub fn input_table(scale: f32, zero_point: i32) -> Result<[i8; 256]> {
    if !(scale.is_finite() && scale > 0.0) {
        return Err(arg_err("input_table", format!("the model's input scale {scale} is not positive")));
    }
    Ok(std::array::from_fn(|i| {
        let q = i as u8 as i8;
        let real = f64::from(i32::from(q) - INT8_ZERO_POINT) * f64::from(INT8_SCALE);
        ((real / f64::from(scale)).round() as i64 + i64::from(zero_point)).clamp(-128, 127) as i8
    }))
}

/// `kws_testdata.h` / `kws_testdata.c`: the clips, the expected bytes and, for a model, the input
/// table (and `TL_KWS_MODEL`, which makes the driver run the model).
fn write_testdata(dir: &Path, clips: &[Vec<i16>], expected: &[Vec<i8>], table: Option<&[i8; 256]>) -> Result<()> {
    let what = "kws testdata";
    if clips.is_empty() || clips.len() != expected.len() {
        return Err(arg_err(what, format!("{} clips and {} expected outputs", clips.len(), expected.len())));
    }
    if let Some(c) = clips.iter().find(|c| c.len() != CLIP_SAMPLES) {
        return Err(arg_err(what, format!("a clip of {} samples (expected {CLIP_SAMPLES})", c.len())));
    }
    let out_len = expected[0].len();
    if expected.iter().any(|e| e.len() != out_len) {
        return Err(arg_err(what, "expected outputs of different lengths"));
    }
    let n = clips.len();
    let model = if table.is_some() { "#define TL_KWS_MODEL 1\n" } else { "" };
    let header = format!(
        "/* Test clips of the keyword-spotting driver. Written by tinylab-mcu-export. */\n\
         #ifndef KWS_TESTDATA_H\n#define KWS_TESTDATA_H\n\n#include <stdint.h>\n\n{model}\
         #define TL_KWS_N_CLIPS {n}\n#define TL_KWS_OUT_SIZE {out_len}\n\n\
         extern const int16_t tl_kws_audio[TL_KWS_N_CLIPS][{CLIP_SAMPLES}];\n\
         extern const int8_t tl_kws_expected[TL_KWS_N_CLIPS][TL_KWS_OUT_SIZE];\n\
         extern const int8_t tl_kws_input_table[256];\n\n#endif /* KWS_TESTDATA_H */\n"
    );
    let mut c = String::with_capacity(8 * n * CLIP_SAMPLES);
    c.push_str("/* Test clips of the keyword-spotting driver. Written by tinylab-mcu-export. */\n");
    c.push_str("#include \"kws_testdata.h\"\n\n");
    let mut rows = |ty: &str, name: &str, size: &str, rows: &mut dyn Iterator<Item = Vec<i64>>| {
        let _ = writeln!(c, "const {ty} {name}[TL_KWS_N_CLIPS][{size}] = {{");
        for row in rows {
            c.push_str("    {");
            for (k, v) in row.iter().enumerate() {
                c.push_str(if k % 16 == 0 { "\n        " } else { " " });
                let _ = write!(c, "{v},");
            }
            c.push_str("\n    },\n");
        }
        c.push_str("};\n\n");
    };
    rows(
        "int16_t",
        "tl_kws_audio",
        &CLIP_SAMPLES.to_string(),
        &mut clips.iter().map(|r| r.iter().map(|&v| i64::from(v)).collect()),
    );
    rows(
        "int8_t",
        "tl_kws_expected",
        "TL_KWS_OUT_SIZE",
        &mut expected.iter().map(|r| r.iter().map(|&v| i64::from(v)).collect()),
    );
    let identity: [i8; 256] = std::array::from_fn(|i| i as u8 as i8);
    let t = table.unwrap_or(&identity);
    let _ = writeln!(c, "const int8_t tl_kws_input_table[256] = {{");
    for chunk in t.chunks(16) {
        let _ = writeln!(c, "    {}", chunk.iter().map(|v| format!("{v},")).collect::<Vec<_>>().join(" "));
    }
    c.push_str("};\n");
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(io_err(p))
    };
    write("kws_testdata.h", &header)?;
    write("kws_testdata.c", &c)
}

/// Writes the front end's sources and the driver into `dir`.
fn write_front_end(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    for (name, text) in
        [("tl_mfcc.h", MFCC_H), ("tl_mfcc.c", MFCC_C), ("tl_mfcc_tables.h", MFCC_TABLES_H), ("kws_main.c", KWS_MAIN_C)]
    {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(io_err(p))?;
    }
    Ok(())
}

/// A program in `dir` for `opts.target` that runs the C front end on `clips` (1 s each) and checks
/// its bytes against the Rust implementation ([`mfcc_expected`]); build and run it with
/// [`crate::toolchain`]. `opts.planner` is not used.
pub fn export_mfcc(dir: &Path, opts: &ExportOptions, clips: &[Vec<i16>]) -> Result<()> {
    let expected = clips.iter().map(|c| mfcc_expected(c)).collect::<Result<Vec<_>>>()?;
    write_front_end(dir)?;
    write_testdata(dir, clips, &expected, None)?;
    write_target_files(dir, opts.target, &opts.board)
}

/// What [`export_kws`] expects the program to print for each clip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KwsExpected {
    /// Per clip: the model's input bytes (after the input table) then its output bytes.
    pub bytes: Vec<Vec<i8>>,
    /// Per clip: the Rust engine's argmax.
    pub keywords: Vec<usize>,
}

/// The whole MCU path in `dir`: the C front end, `model` exported as for [`crate::export::export`]
/// (planned to fit `opts.board`), the input table, and the driver running raw audio -> MFCC -> model
/// on `clips`, checked against the Rust front end and engine. The model's input must be the `(1, 49,
/// 10)` MFCC map (any quantization).
pub fn export_kws(model: &Int8Model, dir: &Path, opts: &ExportOptions, clips: &[Vec<i16>]) -> Result<KwsExpected> {
    if model.input_shape() != [1, N_FRAMES, N_MFCC] {
        return Err(arg_err(
            "export_kws",
            format!("the model's input is {:?}, the MFCC map is [1, {N_FRAMES}, {N_MFCC}]", model.input_shape()),
        ));
    }
    let graph = McuGraph::from_int8(model)?;
    let (scale, zp) = graph.input_quant;
    let table = input_table(scale, zp)?;
    let mut expected = KwsExpected { bytes: Vec::new(), keywords: Vec::new() };
    for clip in clips {
        let features = mfcc_int8(clip).map_err(tinylab_classical::error::ClassicalError::from)?;
        let input: Vec<i8> = features.iter().map(|&q| table[q as u8 as usize]).collect();
        let out = model.run_quantized(&input, [1, 1, N_FRAMES, N_MFCC])?;
        let scores = graph.engine_output_to_c(&out)?;
        let best = scores.iter().enumerate().fold(0, |b, (i, &v)| if v > scores[b] { i } else { b });
        let mut bytes = graph.engine_input_to_c(&input)?;
        bytes.extend(&scores);
        expected.bytes.push(bytes);
        expected.keywords.push(best);
    }
    let plan = plan_for_board(&graph, opts.planner, &opts.board)?;
    let GeneratedModel { model_h, model_c, kernels_c } = generate(&graph, &plan)?;
    write_front_end(dir)?;
    for (name, text) in [
        ("model.h", model_h.as_str()),
        ("model.c", &model_c),
        ("tl_kernels.h", KERNELS_H),
        ("tl_kernels.c", &kernels_c),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(io_err(p))?;
    }
    write_testdata(dir, clips, &expected.bytes, Some(&table))?;
    write_target_files(dir, opts.target, &opts.board)?;
    Ok(expected)
}

/// The `model_cycles` and `keyword` lines of the driver's output, in clip order.
pub fn parse_kws_lines(stdout: &str) -> Result<(Vec<u64>, Vec<usize>)> {
    let (mut cycles, mut keywords) = (Vec::new(), Vec::new());
    for line in stdout.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let bad = || arg_err("kws driver output", format!("malformed `{line}`"));
        match f.as_slice() {
            ["model_cycles", i, n] => {
                (i.parse::<usize>().map_err(|_| bad())? == cycles.len()).then_some(()).ok_or_else(bad)?;
                cycles.push(n.parse().map_err(|_| bad())?);
            }
            ["keyword", i, k] => {
                (i.parse::<usize>().map_err(|_| bad())? == keywords.len()).then_some(()).ok_or_else(bad)?;
                keywords.push(k.parse().map_err(|_| bad())?);
            }
            _ => {}
        }
    }
    Ok((cycles, keywords))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_input_table_maps_the_front_ends_quantization_to_the_models() {
        // The same quantization: the identity.
        let same = input_table(INT8_SCALE, INT8_ZERO_POINT).unwrap();
        assert!((0..256).all(|i| same[i] == i as u8 as i8));
        // Scale 4/3 (twice as coarse), zero point 0: q = round((q' - 58) / 2), saturated.
        let t = input_table(4.0 / 3.0, 0).unwrap();
        assert_eq!(t[58], 0);
        assert_eq!(t[62], 2);
        assert_eq!(t[(-128i8) as u8 as usize], -93); // (-186) / 2
        let t = input_table(0.1, 0).unwrap();
        assert_eq!((t[127], t[(-128i8) as u8 as usize]), (127, -128));
        assert!(input_table(0.0, 0).is_err() && input_table(f32::NAN, 0).is_err());
    }

    #[test]
    fn driver_lines_are_parsed_in_order() {
        let text = "out 0 00\ncycles 0 5\nmodel_cycles 0 17\nkeyword 0 3\nmodel_cycles 1 18\nkeyword 1 11\n";
        assert_eq!(parse_kws_lines(text).unwrap(), (vec![17, 18], vec![3, 11]));
        assert!(parse_kws_lines("keyword 1 3\n").is_err());
        assert!(parse_kws_lines("model_cycles 0 x\n").is_err());
    }

    #[test]
    fn testdata_checks_its_clips() {
        let dir = std::env::temp_dir().join(format!("tl-kws-unit-{}", std::process::id()));
        assert!(write_testdata(&dir, &[], &[], None).is_err());
        assert!(write_testdata(&dir, &[vec![0; 100]], &[vec![0]], None).is_err());
        assert!(write_testdata(&dir, &vec![vec![0; CLIP_SAMPLES]; 2], &[vec![0], vec![0, 1]], None).is_err());
        write_testdata(&dir, &[vec![0; CLIP_SAMPLES]], &[vec![7, -8]], Some(&[1; 256])).unwrap();
        let h = std::fs::read_to_string(dir.join("kws_testdata.h")).unwrap();
        assert!(h.contains("#define TL_KWS_MODEL 1") && h.contains("#define TL_KWS_OUT_SIZE 2"), "{h}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
