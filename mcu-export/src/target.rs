//! Build targets of an exported model: the host (gcc) and Cortex-M4 / Cortex-M7 boards emulated by
//! `qemu-system-arm`, with the files each needs next to the generated C (a Makefile; for Cortex-M also
//! the start-up code and a linker script sized to the board).
//!
//! The Cortex-M targets are qemu's ARM MPS2 FPGA boards: `mps2-an386` (Cortex-M4 with the single
//! precision FPU, `-mfpu=fpv4-sp-d16`) and `mps2-an500` (Cortex-M7 with the double precision FPU,
//! `-mfpu=fpv5-d16`). Both have 4 MiB of code memory at `0x0` and 4 MiB of SRAM at `0x20000000`
//! (qemu 7.2), and a 25 MHz system clock that drives SysTick. A [`Board`] may declare less memory
//! than that (a real microcontroller's), in which case the linker script only lets the program use
//! that much: an oversized model fails to link with "region `RAM' overflowed" or "region `FLASH'
//! overflowed".

use crate::error::{Result, arg_err, io_err};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// The host Makefile template (gcc, C99, warnings as errors).
const MAKEFILE_HOST: &str = include_str!("../c/targets/Makefile.host");
/// The Cortex-M Makefile template (arm-none-eabi-gcc, newlib-nano, semihosting).
const MAKEFILE_ARM: &str = include_str!("../c/targets/Makefile.arm");
/// The Cortex-M start-up code (vector table, reset handler, SysTick wrap counter, fault exit).
const STARTUP_C: &str = include_str!("../c/targets/startup.c");
/// The Cortex-M linker script template (FLASH and RAM lengths from the board).
const LINK_LD: &str = include_str!("../c/targets/link.ld");
/// The test drivers' SysTick timer and 64-bit printing, included by every driver.
const TIMER_H: &str = include_str!("../c/targets/tl_timer.h");

/// Memory of qemu's MPS2 boards, code and SRAM alike (4 MiB each).
pub const QEMU_MPS2_MEMORY_BYTES: usize = 4 << 20;
/// Bytes of SRAM the linker script reserves for the stack (at the top of RAM).
pub const STACK_BYTES: usize = 8 * 1024;
/// Bytes of SRAM the linker script reserves for newlib's heap (stdio's buffer for the test driver).
pub const HEAP_BYTES: usize = 4 * 1024;
/// Frequency of the MPS2 boards' system clock, which SysTick counts (checked under qemu 7.2 for
/// `mps2-an386` and `mps2-an500`: 2,000,000 instructions at `-icount shift=7` take 6.4 M ticks).
pub const QEMU_SYSCLK_HZ: u64 = 25_000_000;

/// Where an exported model is built and run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// The build machine itself, with gcc: fast functional checks, no cycle counts.
    Host,
    /// Cortex-M4F on qemu's `mps2-an386` board.
    CortexM4,
    /// Cortex-M7 (double precision FPU) on qemu's `mps2-an500` board.
    CortexM7,
}

impl Target {
    /// Every target, for loops in tests and CLIs.
    pub const ALL: [Target; 3] = [Target::Host, Target::CortexM4, Target::CortexM7];

    /// The name used on command lines (`host`, `cortex-m4`, `cortex-m7`).
    pub fn name(self) -> &'static str {
        match self {
            Target::Host => "host",
            Target::CortexM4 => "cortex-m4",
            Target::CortexM7 => "cortex-m7",
        }
    }

    /// Whether the target is a Cortex-M (cross-compiled, run under qemu).
    pub fn is_cortex_m(self) -> bool {
        !matches!(self, Target::Host)
    }

    /// The qemu machine (`-M`) that emulates the target's board; `None` for the host.
    pub fn qemu_machine(self) -> Option<&'static str> {
        match self {
            Target::Host => None,
            Target::CortexM4 => Some("mps2-an386"),
            Target::CortexM7 => Some("mps2-an500"),
        }
    }

    /// The qemu CPU (`-cpu`); `None` for the host.
    pub fn qemu_cpu(self) -> Option<&'static str> {
        match self {
            Target::Host => None,
            Target::CortexM4 => Some("cortex-m4"),
            Target::CortexM7 => Some("cortex-m7"),
        }
    }

    /// The code generation flags of arm-none-eabi-gcc (CPU, Thumb, hard-float ABI with the FPU);
    /// empty for the host.
    pub fn cpu_flags(self) -> &'static str {
        match self {
            Target::Host => "",
            Target::CortexM4 => "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16",
            Target::CortexM7 => "-mcpu=cortex-m7 -mthumb -mfloat-abi=hard -mfpu=fpv5-d16",
        }
    }

    /// The file the Makefile builds: `prog` on the host, `prog.elf` on Cortex-M.
    pub fn program_name(self) -> &'static str {
        if self.is_cortex_m() { "prog.elf" } else { "prog" }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Target {
    type Err = crate::ExportError;

    fn from_str(s: &str) -> Result<Target> {
        Target::ALL.into_iter().find(|t| t.name() == s).ok_or_else(|| {
            arg_err("target", format!("unknown target `{s}` (expected one of: host, cortex-m4, cortex-m7)"))
        })
    }
}

/// The memory of the board a model is built for: the linker script gives the program exactly this
/// much code memory (flash) and SRAM, of which [`STACK_BYTES`] + [`HEAP_BYTES`] of SRAM are reserved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Board {
    /// Bytes of SRAM (data, bss with the model's arena, heap and stack).
    pub sram_bytes: usize,
    /// Bytes of flash (code, weights, test data, the initial values of data).
    pub flash_bytes: usize,
}

impl Board {
    /// The whole memory of the qemu board that emulates `target` (4 MiB of each on the MPS2 boards;
    /// the same for the host, where the sizes only matter to the planner).
    pub fn qemu(target: Target) -> Board {
        let _ = target;
        Board { sram_bytes: QEMU_MPS2_MEMORY_BYTES, flash_bytes: QEMU_MPS2_MEMORY_BYTES }
    }

    /// A board with the given memory, checked: SRAM must hold the stack and heap reservations plus
    /// something, flash must be non-empty, both at most the emulated board's 4 MiB and multiples of 4.
    pub fn new(sram_bytes: usize, flash_bytes: usize) -> Result<Board> {
        let board = Board { sram_bytes, flash_bytes };
        board.check()?;
        Ok(board)
    }

    /// SRAM left for the model's arena and other static data once the stack and heap are reserved.
    pub fn sram_for_data(&self) -> usize {
        self.sram_bytes.saturating_sub(STACK_BYTES + HEAP_BYTES)
    }

    /// Why the board cannot be emulated, if it cannot.
    fn check(&self) -> Result<()> {
        let what = "board";
        if self.sram_bytes <= STACK_BYTES + HEAP_BYTES {
            return Err(arg_err(
                what,
                format!(
                    "{} bytes of SRAM do not leave room beyond the {} bytes of stack and heap",
                    self.sram_bytes,
                    STACK_BYTES + HEAP_BYTES
                ),
            ));
        }
        if self.flash_bytes == 0 {
            return Err(arg_err(what, "0 bytes of flash"));
        }
        for (name, n) in [("SRAM", self.sram_bytes), ("flash", self.flash_bytes)] {
            if n > QEMU_MPS2_MEMORY_BYTES {
                return Err(arg_err(
                    what,
                    format!("{n} bytes of {name}: the emulated MPS2 boards have {QEMU_MPS2_MEMORY_BYTES}"),
                ));
            }
            if !n.is_multiple_of(4) {
                return Err(arg_err(what, format!("{n} bytes of {name} is not a multiple of 4")));
            }
        }
        Ok(())
    }
}

impl Default for Board {
    /// The qemu MPS2 boards' memory (4 MiB of flash and of SRAM).
    fn default() -> Board {
        Board::qemu(Target::CortexM4)
    }
}

/// Writes the target's build files into `dir` (which holds, or will hold, the generated model.h /
/// model.c / tl_kernels.{h,c}, testdata.{h,c} and main.c): the `Makefile`, and for Cortex-M also
/// `startup.c` and `link.ld` with the board's FLASH and RAM lengths; for every target `tl_timer.h`, the
/// drivers' timer and printing. The Makefiles compile every `*.c` of the directory (the host one skips
/// `startup.c`).
pub fn write_target_files(dir: &Path, target: Target, board: &Board) -> Result<()> {
    board.check()?;
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(io_err(path))
    };
    write("tl_timer.h", TIMER_H)?;
    match target {
        Target::Host => write("Makefile", MAKEFILE_HOST),
        Target::CortexM4 | Target::CortexM7 => {
            let machine = target.qemu_machine().unwrap_or_default();
            let makefile = MAKEFILE_ARM
                .replace("@TARGET@", target.name())
                .replace("@QEMU_BOARD@", machine)
                .replace("@CPU_FLAGS@", target.cpu_flags())
                .replace("@QEMU_ARGS@", &crate::toolchain::qemu_args(target).join(" "));
            let link = LINK_LD
                .replace("@FLASH_BYTES@", &board.flash_bytes.to_string())
                .replace("@SRAM_BYTES@", &board.sram_bytes.to_string())
                .replace("@STACK_BYTES@", &STACK_BYTES.to_string())
                .replace("@HEAP_BYTES@", &HEAP_BYTES.to_string());
            write("Makefile", &makefile)?;
            write("startup.c", STARTUP_C)?;
            write("link.ld", &link)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in Target::ALL {
            assert_eq!(t.to_string().parse::<Target>().unwrap(), t);
        }
        assert!("cortex-m0".parse::<Target>().is_err());
    }

    #[test]
    fn templates_have_no_unfilled_placeholders() {
        let dir = std::env::temp_dir().join(format!("tl-target-unit-{}", std::process::id()));
        for t in Target::ALL {
            write_target_files(&dir, t, &Board::new(256 * 1024, 1024 * 1024).unwrap()).unwrap();
            for name in ["Makefile", "link.ld", "startup.c"] {
                if let Ok(text) = std::fs::read_to_string(dir.join(name)) {
                    for p in ["@TARGET@", "@QEMU_BOARD@", "@CPU_FLAGS@", "@QEMU_ARGS@", "_BYTES@"] {
                        assert!(!text.contains(p), "{name} for {t} keeps {p}: {text}");
                    }
                }
            }
            if t.is_cortex_m() {
                let link = std::fs::read_to_string(dir.join("link.ld")).unwrap();
                assert!(link.contains("LENGTH = 262144"), "{link}");
                assert!(link.contains("LENGTH = 1048576"), "{link}");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn board_checks() {
        assert!(Board::new(STACK_BYTES + HEAP_BYTES, 1024).is_err());
        assert!(Board::new(64 * 1024, 0).is_err());
        assert!(Board::new(8 << 20, 1024).is_err());
        assert!(Board::new(64 * 1024 + 2, 1024).is_err());
        let b = Board::new(64 * 1024, 1024).unwrap();
        assert_eq!(b.sram_for_data(), 64 * 1024 - STACK_BYTES - HEAP_BYTES);
        assert_eq!(Board::default(), Board { sram_bytes: 4 << 20, flash_bytes: 4 << 20 });
    }
}
