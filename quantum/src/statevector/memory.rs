//! Refusing states that would not fit: the bytes a request needs, checked against what the machine
//! reports available, before anything is allocated.

use crate::error::{QuantumError, Result};
use crate::matrix::C64;

/// Bytes of `n_states` states of `n_qubits` qubits (saturating).
pub fn bytes_needed(n_qubits: usize, n_states: usize) -> u128 {
    let per_state = if n_qubits >= 100 { u128::MAX } else { (std::mem::size_of::<C64>() as u128) << n_qubits };
    per_state.saturating_mul(n_states as u128)
}

/// Bytes the operating system reports available (`MemAvailable` of `/proc/meminfo`), if it does.
pub fn available_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// Requests below this many bytes skip the check against `/proc/meminfo` (reading it costs more than
/// simulating a small state; the allocator still refuses what it cannot give).
const CHECK_AVAILABLE_FROM_BYTES: u128 = 64 << 20;

/// Zeroed amplitudes for `n_states` states of `n_qubits` qubits, or [`QuantumError::TooLarge`] naming
/// the bytes needed.
pub fn allocate_states(n_qubits: usize, n_states: usize) -> Result<Vec<C64>> {
    let bytes = bytes_needed(n_qubits, n_states);
    let available = if bytes >= CHECK_AVAILABLE_FROM_BYTES { available_bytes() } else { None };
    let too_large = |available| QuantumError::TooLarge { n_qubits, bytes_needed: bytes, bytes_available: available };
    if bytes > isize::MAX as u128 {
        return Err(too_large(None));
    }
    if let Some(a) = available
        && bytes > a as u128
    {
        return Err(too_large(Some(a)));
    }
    let len = (bytes / std::mem::size_of::<C64>() as u128) as usize;
    let mut v: Vec<C64> = Vec::new();
    v.try_reserve_exact(len).map_err(|_| too_large(available))?;
    v.resize(len, C64::new(0.0, 0.0));
    Ok(v)
}
