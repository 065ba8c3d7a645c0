//! The toolchain driver: finds gcc / arm-none-eabi-gcc / make / qemu-system-arm, builds an export
//! directory with its Makefile, runs the program on the host or under qemu (with a timeout, so a hung
//! emulator cannot hang a test) and reads back what the driver printed, and reports section sizes.
//!
//! Cortex-M programs run as
//! `qemu-system-arm -M <mps2 board> -cpu <cpu> -nographic -semihosting-config enable=on,target=native
//! -icount shift=7 -kernel prog.elf`: printf reaches stdout through semihosting and main's return
//! value becomes qemu's exit code. With `-icount` every instruction advances qemu's virtual clock by
//! 2^shift ns, so SysTick (25 MHz on the MPS2 boards) counts exactly the same ticks on every run and
//! the instructions an invoke executed follow from its ticks: ticks x 40 ns / 128 ns, exact to within
//! one instruction at shift 7 (at shift 0 one tick would stand for 40 instructions). qemu does not
//! model pipeline timing, so instruction counts, not real Cortex-M cycles, are what it measures.

use crate::error::{ExportError, Result, io_err};
use crate::harness;
use crate::target::{QEMU_SYSCLK_HZ, Target};
use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The `-icount` shift of qemu runs: each instruction takes 2^7 = 128 ns of virtual time, i.e. 3.2
/// SysTick ticks at 25 MHz, so tick counts resolve single instructions.
pub const QEMU_ICOUNT_SHIFT: u32 = 7;

/// The time limit of [`run`]; [`run_with_timeout`] takes another.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The qemu arguments that emulate `target`, without `-kernel <elf>`; empty for the host.
pub fn qemu_args(target: Target) -> Vec<String> {
    match (target.qemu_machine(), target.qemu_cpu()) {
        (Some(machine), Some(cpu)) => [
            "-M",
            machine,
            "-cpu",
            cpu,
            "-nographic",
            "-semihosting-config",
            "enable=on,target=native",
            "-icount",
            &format!("shift={QEMU_ICOUNT_SHIFT}"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        _ => Vec::new(),
    }
}

/// The Debian / Ubuntu package that provides `tool`, for [`ExportError::ToolMissing`]'s hint.
fn install_hint(tool: &str) -> String {
    let package = match tool {
        "gcc" | "cc" => "gcc",
        "make" => "make",
        t if t.starts_with("qemu-system-arm") => "qemu-system-arm",
        t if t.starts_with("arm-none-eabi-") => "gcc-arm-none-eabi libnewlib-arm-none-eabi",
        _ => return format!("install `{tool}` and put it on PATH"),
    };
    format!("not on PATH; install it with `apt-get install {package}` (Debian/Ubuntu)")
}

/// Finds the executable `name` on `PATH` (a name with a `/` is taken as a path), or
/// [`ExportError::ToolMissing`] with an install hint.
pub fn find_tool(name: &str) -> Result<PathBuf> {
    find_tool_in(name, std::env::var_os("PATH").as_deref().unwrap_or_else(|| OsStr::new("")))
}

/// [`find_tool`] searching the directories of `search_path` (a `PATH`-style list) instead of `PATH`.
pub fn find_tool_in(name: &str, search_path: &OsStr) -> Result<PathBuf> {
    let missing = || ExportError::ToolMissing { tool: name.to_string(), hint: install_hint(name) };
    if name.is_empty() {
        return Err(missing());
    }
    if name.contains('/') {
        let p = PathBuf::from(name);
        return if is_executable(&p) { Ok(p) } else { Err(missing()) };
    }
    std::env::split_paths(search_path).map(|dir| dir.join(name)).find(|p| is_executable(p)).ok_or_else(missing)
}

/// Whether `path` is a file someone may execute.
fn is_executable(path: &Path) -> bool {
    match std::fs::metadata(path) {
        #[cfg(unix)]
        Ok(m) => {
            use std::os::unix::fs::PermissionsExt;
            m.is_file() && m.permissions().mode() & 0o111 != 0
        }
        #[cfg(not(unix))]
        Ok(m) => m.is_file(),
        Err(_) => false,
    }
}

/// The tools [`build`] and [`run`] need for `target`.
fn required_tools(target: Target) -> &'static [&'static str] {
    if target.is_cortex_m() { &["make", "arm-none-eabi-gcc", "qemu-system-arm"] } else { &["make", "gcc"] }
}

/// Whether `target` can be built and run here: its tools are on `PATH` and, for Cortex-M, newlib's
/// semihosting library (`librdimon.a`, package libnewlib-arm-none-eabi) is installed. Tests call this
/// to skip with a note instead of failing where the tools are absent.
pub fn available(target: Target) -> bool {
    if required_tools(target).iter().any(|t| find_tool(t).is_err()) {
        return false;
    }
    if target.is_cortex_m() {
        // gcc prints the bare name when it cannot find the library in its multilib directories.
        let flags: Vec<&str> = target.cpu_flags().split_whitespace().collect();
        let found = Command::new("arm-none-eabi-gcc")
            .args(&flags)
            .arg("-print-file-name=librdimon.a")
            .stderr(Stdio::null())
            .output()
            .map(|o| Path::new(String::from_utf8_lossy(&o.stdout).trim()).is_absolute())
            .unwrap_or(false);
        return found;
    }
    true
}

/// The environment variable that makes a missing tool a test failure instead of a skip: `.ci/run`
/// sets it, so the toolchain tests cannot pass in CI by not running.
pub const REQUIRE_TOOLCHAINS_ENV: &str = "TINYLAB_REQUIRE_TOOLCHAINS";

/// True when [`REQUIRE_TOOLCHAINS_ENV`] is set to anything but empty or `0`.
pub fn toolchains_required() -> bool {
    std::env::var(REQUIRE_TOOLCHAINS_ENV).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// For tests that need `target`'s tools: true when they are here. When they are not, the test
/// fails (a panic naming the missing pieces) if [`toolchains_required`], and otherwise a note is
/// printed and the caller skips by returning early.
pub fn available_or_skip(target: Target, test: &str) -> bool {
    if available(target) {
        return true;
    }
    let missing: Vec<&str> = required_tools(target).iter().copied().filter(|t| find_tool(t).is_err()).collect();
    let what = if missing.is_empty() {
        "newlib's librdimon.a (libnewlib-arm-none-eabi)".to_string()
    } else {
        missing.join(", ")
    };
    skip_or_fail(test, &format!("{target} needs {what}"))
}

/// As [`available_or_skip`] for one tool on `PATH`.
pub fn tool_or_skip(tool: &str, test: &str) -> bool {
    find_tool(tool).is_ok() || skip_or_fail(test, &format!("`{tool}` is not on PATH ({})", install_hint(tool)))
}

fn skip_or_fail(test: &str, why: &str) -> bool {
    skip_or_fail_when(toolchains_required(), test, why)
}

/// False after a note when the tools are optional; a panic (a failing test) when `required`.
#[allow(clippy::print_stderr)] // the skip note on stderr is what this test helper is for
fn skip_or_fail_when(required: bool, test: &str, why: &str) -> bool {
    assert!(!required, "{test}: {why}, and {REQUIRE_TOOLCHAINS_ENV} is set: the test must run");
    eprintln!("note: skipping {test}: {why} (set {REQUIRE_TOOLCHAINS_ENV}=1 to make this a failure)");
    false
}

/// What a finished command left: its exit code (`None` when killed by a signal), stdout and stderr.
struct Finished {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` with stdin closed and stdout / stderr captured, killing it after `timeout`.
fn run_captured(cmd: &mut Command, timeout: Duration) -> Result<Finished> {
    let line = describe(cmd);
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(|e| {
        ExportError::CommandFailed { command: line.clone(), status: "could not start".into(), output: e.to_string() }
    })?;
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut bytes);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let out = reader(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let err = reader(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ExportError::CommandFailed {
                    command: line,
                    status: "could not wait for it".into(),
                    output: e.to_string(),
                });
            }
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    match status {
        Some(status) => Ok(Finished { code: status.code(), stdout, stderr }),
        None => Err(ExportError::CommandFailed {
            command: line,
            status: format!("timed out after {:.1} s and was killed", timeout.as_secs_f64()),
            output: stdout + &stderr,
        }),
    }
}

/// The command line of `cmd`, for error messages.
fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|s| s.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Builds the export directory `dir` (written by `target::write_target_files`, the harness and the
/// code generator) with `make`, and returns the program: `dir/prog` for the host, `dir/prog.elf` for
/// Cortex-M. A missing tool is [`ExportError::ToolMissing`]; a failed compile or link (an oversized
/// model: "region `RAM' overflowed by N bytes") is [`ExportError::CommandFailed`] with make's output.
pub fn build(dir: &Path, target: Target) -> Result<PathBuf> {
    let makefile = dir.join("Makefile");
    if !makefile.is_file() {
        return Err(crate::error::arg_err(
            "build",
            format!("{} has no Makefile (write it with target::write_target_files)", dir.display()),
        ));
    }
    for tool in required_tools(target).iter().filter(|t| **t != "qemu-system-arm") {
        find_tool(tool)?;
    }
    let mut cmd = Command::new(find_tool("make")?);
    cmd.arg("-C").arg(dir).arg(target.program_name()).env_remove("MAKEFLAGS").env_remove("MFLAGS");
    let done = run_captured(&mut cmd, DEFAULT_TIMEOUT)?;
    if done.code != Some(0) {
        return Err(ExportError::CommandFailed {
            command: describe(&cmd),
            status: status_text(done.code),
            output: done.stdout + &done.stderr,
        });
    }
    Ok(dir.join(target.program_name()))
}

/// `exit code N` or `killed by a signal`.
fn status_text(code: Option<i32>) -> String {
    match code {
        Some(c) => format!("exit code {c}"),
        None => "killed by a signal".into(),
    }
}

/// A finished run of the test driver, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutput {
    /// The program's (qemu's) exit code: the number of mismatching samples, at most 100.
    pub exit_code: i32,
    /// Everything the program printed on stdout.
    pub stdout: String,
    /// The output bytes of every sample (the `out` lines).
    pub outputs: Vec<Vec<i8>>,
    /// The timer count of every sample's invoke (the `cycles` lines): SysTick ticks at the board's
    /// 25 MHz clock under qemu (a virtual-time artefact of `-icount`; on hardware, processor cycles);
    /// 0 on the host.
    pub cycles: Vec<u64>,
    /// Instructions each invoke executed under qemu (ticks less the timer overhead, converted at
    /// [`QEMU_ICOUNT_SHIFT`]; exact to within one), the same on every run; 0 on the host.
    pub instructions: Vec<u64>,
    /// The count of an empty measurement, already taken out of `instructions`.
    pub timer_overhead: u64,
    /// Samples whose output differed from the expected bytes (the `mismatches` line).
    pub mismatches: usize,
    /// Samples whose `model_invoke` returned non-zero, with the code.
    pub errors: Vec<(usize, i32)>,
    /// Wall-clock time of the run (qemu's start-up included).
    pub wall: Duration,
}

/// Instructions executed in `ticks` SysTick ticks under qemu with `-icount shift=QEMU_ICOUNT_SHIFT`:
/// ticks x (1 s / 25 MHz) / 2^shift ns, rounded to the nearest.
pub fn ticks_to_instructions(ticks: u64) -> u64 {
    let num = u128::from(ticks) * 1_000_000_000;
    let den = u128::from(QEMU_SYSCLK_HZ) << QEMU_ICOUNT_SHIFT;
    ((num + den / 2) / den) as u64
}

/// Runs the program built by [`build`] (`path` is the program or its export directory) on `target`
/// with [`DEFAULT_TIMEOUT`]: see [`run_with_timeout`].
pub fn run(path: &Path, target: Target) -> Result<RunOutput> {
    run_with_timeout(path, target, DEFAULT_TIMEOUT)
}

/// Runs the program on the host or under qemu and parses the driver's output. Mismatching samples
/// are not an error (they are `mismatches` and the exit code); a program that did not finish (a
/// timeout, a fault: exit code 120 from the fault handler, a signal), or whose exit code disagrees
/// with its `mismatches` line, is [`ExportError::CommandFailed`] with its output.
pub fn run_with_timeout(path: &Path, target: Target, timeout: Duration) -> Result<RunOutput> {
    let program = if path.is_dir() { path.join(target.program_name()) } else { path.to_path_buf() };
    if !program.is_file() {
        return Err(ExportError::Io {
            path: program,
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no program here: build it first"),
        });
    }
    let mut cmd = if target.is_cortex_m() {
        let mut c = Command::new(find_tool("qemu-system-arm")?);
        c.args(qemu_args(target)).arg("-kernel").arg(&program);
        c
    } else {
        let program = std::fs::canonicalize(&program).map_err(io_err(&program))?;
        let mut c = Command::new(&program);
        if let Some(dir) = program.parent() {
            c.current_dir(dir);
        }
        c
    };
    let start = Instant::now();
    let done = run_captured(&mut cmd, timeout)?;
    let wall = start.elapsed();
    let failed = |why: String, done: &Finished| ExportError::CommandFailed {
        command: describe(&cmd),
        status: why,
        output: format!("{}{}", done.stdout, done.stderr),
    };
    let Some(exit_code) = done.code else {
        return Err(failed("killed by a signal".into(), &done));
    };
    let parsed =
        harness::parse_output(&done.stdout).map_err(|e| failed(format!("exit code {exit_code}: {e}"), &done))?;
    let Some(mismatches) = parsed.mismatches else {
        let why = if exit_code == 120 {
            "exit code 120: the program took a fault (HardFault, MemManage, BusFault or UsageFault)".to_string()
        } else {
            format!("exit code {exit_code} before the `mismatches` line")
        };
        return Err(failed(why, &done));
    };
    if exit_code as i64 != mismatches.min(100) as i64 {
        return Err(failed(format!("exit code {exit_code} but {mismatches} mismatches printed"), &done));
    }
    if parsed.cycles.len() != parsed.outputs.len() {
        return Err(failed(
            format!("{} `out` lines but {} `cycles` lines", parsed.outputs.len(), parsed.cycles.len()),
            &done,
        ));
    }
    let instructions = parsed
        .cycles
        .iter()
        .map(|&c| if target.is_cortex_m() { ticks_to_instructions(c.saturating_sub(parsed.timer_overhead)) } else { 0 })
        .collect();
    Ok(RunOutput {
        exit_code,
        stdout: done.stdout,
        outputs: parsed.outputs,
        cycles: parsed.cycles,
        instructions,
        timer_overhead: parsed.timer_overhead,
        mismatches,
        errors: parsed.errors,
        wall,
    })
}

/// What a profiling build measured: the driver's run, and every op's instructions per sample.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfiledRun {
    /// The run (its `instructions` include the profiling brackets).
    pub run: RunOutput,
    /// Per op, the instructions of its kernel calls per sample: their ticks less the brackets' own
    /// cost (`calls x profile_overhead`), converted at [`QEMU_ICOUNT_SHIFT`], over the samples.
    pub per_op: Vec<f64>,
}

/// Builds and runs a profiling build on `target` (an export directory turned into one by
/// [`harness::write_profile_driver`]) and reads every op's instructions ([`harness::parse_profile`]).
/// Fails when a sample's output differs from the expected bytes, so a count always comes from a
/// correct run.
pub fn build_and_profile(dir: &Path, target: Target) -> Result<ProfiledRun> {
    let elf = build(dir, target)?;
    let run = run(&elf, target)?;
    if run.mismatches != 0 || !run.errors.is_empty() {
        return Err(ExportError::CommandFailed {
            command: format!("{} on {target}", elf.display()),
            status: format!("{} mismatching samples, errors {:?}", run.mismatches, run.errors),
            output: run.stdout,
        });
    }
    let (overhead, ops) = harness::parse_profile(&run.stdout)?;
    let n = run.outputs.len().max(1) as f64;
    let per_op =
        ops.iter().map(|p| ticks_to_instructions(p.ticks.saturating_sub(p.calls * overhead)) as f64 / n).collect();
    Ok(ProfiledRun { run, per_op })
}

/// Section sizes of a Cortex-M program, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sizes {
    /// Code and constants in flash (vector table, code, weights, test data; `size`'s text).
    pub text: usize,
    /// Initialised data: in flash and copied to SRAM at start-up.
    pub data: usize,
    /// Zero-initialised data in SRAM (the model's arena), without the heap and stack reservations.
    pub bss: usize,
    /// The linker script's heap and stack reservations in SRAM.
    pub reserved: usize,
}

impl Sizes {
    /// Flash the program occupies: text + data.
    pub fn flash(&self) -> usize {
        self.text + self.data
    }

    /// Static SRAM: data + bss.
    pub fn static_sram(&self) -> usize {
        self.data + self.bss
    }

    /// SRAM including the heap and stack reservations.
    pub fn total_sram(&self) -> usize {
        self.static_sram() + self.reserved
    }
}

/// Section sizes of the ELF file `elf` by `arm-none-eabi-size` (its Berkeley text / data / bss, with
/// the `.heap` and `.stack` reservations of the linker script moved out of bss).
pub fn size(elf: &Path) -> Result<Sizes> {
    let tool = find_tool("arm-none-eabi-size")?;
    let run = |args: &[&str]| -> Result<String> {
        let mut cmd = Command::new(&tool);
        cmd.args(args).arg(elf);
        let done = run_captured(&mut cmd, Duration::from_secs(30))?;
        if done.code != Some(0) {
            return Err(ExportError::CommandFailed {
                command: describe(&cmd),
                status: status_text(done.code),
                output: done.stdout + &done.stderr,
            });
        }
        Ok(done.stdout)
    };
    let bad = |text: &str| crate::error::arg_err("arm-none-eabi-size output", text.to_string());
    let berkeley = run(&[])?;
    // "   text	   data	    bss	    dec	    hex	filename" then the numbers.
    let numbers: Vec<usize> = berkeley
        .lines()
        .nth(1)
        .ok_or_else(|| bad(&berkeley))?
        .split_whitespace()
        .take(3)
        .map(|s| s.parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| bad(&berkeley))?;
    let [text, data, bss] = numbers[..] else { return Err(bad(&berkeley)) };
    let sysv = run(&["-A"])?;
    let reserved: usize = sysv
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            match (f.next(), f.next()) {
                (Some(".heap" | ".stack"), Some(n)) => n.parse::<usize>().ok(),
                _ => None,
            }
        })
        .sum();
    Ok(Sizes { text, data, bss: bss.saturating_sub(reserved), reserved })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_skips_on_a_laptop_and_fails_in_ci() {
        assert!(!skip_or_fail_when(false, "a test", "`x` is not on PATH"));
        let failed = std::panic::catch_unwind(|| skip_or_fail_when(true, "a test", "`x` is not on PATH"));
        let message = failed.unwrap_err();
        let text = message.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(text.contains("a test") && text.contains(REQUIRE_TOOLCHAINS_ENV), "{text}");
    }

    #[test]
    fn tick_conversion() {
        // 2,000,000 instructions at 128 ns each are 256 ms of virtual time: 6,400,000 ticks at 25 MHz.
        assert_eq!(ticks_to_instructions(6_400_000), 2_000_000);
        assert_eq!(ticks_to_instructions(3), 1);
        assert_eq!(ticks_to_instructions(0), 0);
    }

    #[test]
    fn missing_tools() {
        let err = find_tool_in("gcc", OsStr::new("")).unwrap_err();
        assert!(matches!(&err, ExportError::ToolMissing { tool, hint } if tool == "gcc" && hint.contains("apt-get")));
        assert!(matches!(find_tool("no-such-tool-tinylab"), Err(ExportError::ToolMissing { .. })));
        assert!(matches!(find_tool("/no/such/dir/gcc"), Err(ExportError::ToolMissing { .. })));
    }
}
