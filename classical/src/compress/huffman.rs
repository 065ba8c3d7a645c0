//! Huffman coding of quantized weights, and the storage accounting of Deep Compression.
//!
//! [`HuffmanCode`] is a canonical Huffman code (Huffman 1952; canonical form as in DEFLATE, RFC 1951
//! §3.2.2) built from symbol frequencies. The tree is built by repeatedly merging the two lightest
//! nodes, ties broken by creation order (leaves in symbol order first, then merged nodes in the order
//! they were made), so the code lengths are a deterministic function of the frequencies. The codes
//! themselves are then assigned canonically: symbols sorted by `(length, symbol)` get consecutive code
//! values, so the code is fully described by its lengths ([`HuffmanCode::from_lengths`]).
//!
//! [`compressed_size`] counts the bits of one weight tensor in the storage formats of Deep Compression
//! (Han, Mao & Dally, ICLR 2016): dense f32; pruned and stored sparse with relative indices (§2,
//! Fig. 2); additionally k-means quantized to `bits`-wide codebook indices (§3); and additionally
//! Huffman-coded (§4). See [`SizeReport`] for the exact accounting.

use super::kmeans::SharedWeights;
use crate::error::{Result, arg_err, shape_err};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A growable sequence of bits, most significant bit of each code first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BitVec {
    words: Vec<u64>,
    len: usize,
}

impl BitVec {
    /// An empty bit sequence.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of bits.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no bits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends one bit.
    pub fn push(&mut self, bit: bool) {
        if self.len.is_multiple_of(64) {
            self.words.push(0);
        }
        if bit {
            self.words[self.len / 64] |= 1 << (self.len % 64);
        }
        self.len += 1;
    }

    /// Appends the low `len` bits of `code`, most significant first.
    pub fn push_code(&mut self, code: u64, len: u8) {
        for b in (0..len).rev() {
            self.push((code >> b) & 1 == 1);
        }
    }

    /// Bit `i`, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<bool> {
        (i < self.len).then(|| (self.words[i / 64] >> (i % 64)) & 1 == 1)
    }
}

/// A canonical prefix code over the symbols `0..n`; symbols of length 0 have no code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HuffmanCode {
    lengths: Vec<u8>,
    codes: Vec<u64>,
    /// Coded symbols sorted by `(length, symbol)`: the canonical order.
    sorted: Vec<u32>,
    /// For each length `l` (index `l`): number of codes, first code value, position in `sorted`.
    count: Vec<u64>,
    first: Vec<u64>,
    offset: Vec<usize>,
}

impl HuffmanCode {
    /// The Huffman code of `freqs[s]` occurrences of each symbol `s` (zero-frequency symbols get no
    /// code). A single used symbol gets the 1-bit code `0`. Errors when there are more than `2^32`
    /// symbols or a code would be longer than 64 bits (frequencies growing like the Fibonacci numbers
    /// up to about `10^13`).
    pub fn from_frequencies(freqs: &[u64]) -> Result<Self> {
        if freqs.len() > u32::MAX as usize + 1 {
            return Err(arg_err("huffman", format!("{} symbols exceed 2^32", freqs.len())));
        }
        let n = freqs.len();
        let used: Vec<usize> = (0..n).filter(|&s| freqs[s] > 0).collect();
        let mut lengths = vec![0u8; n];
        match used.len() {
            0 => {}
            1 => lengths[used[0]] = 1,
            _ => {
                // Nodes 0..n are the leaves, n.. the merged nodes in creation order.
                let mut parent = vec![usize::MAX; n + used.len() - 1];
                let mut heap: BinaryHeap<Reverse<(u64, usize)>> =
                    used.iter().map(|&s| Reverse((freqs[s], s))).collect();
                let mut next = n;
                while heap.len() > 1 {
                    let Reverse((wa, a)) = heap.pop().expect("two nodes");
                    let Reverse((wb, b)) = heap.pop().expect("two nodes");
                    parent[a] = next;
                    parent[b] = next;
                    heap.push(Reverse((wa.saturating_add(wb), next)));
                    next += 1;
                }
                // Parents are created after their children: walk down from the root.
                let mut depth = vec![0usize; parent.len()];
                for node in (0..next - 1).rev() {
                    if parent[node] != usize::MAX {
                        depth[node] = depth[parent[node]] + 1;
                    }
                }
                for &s in &used {
                    if depth[s] > 64 {
                        return Err(arg_err("huffman", format!("symbol {s} would need a {}-bit code", depth[s])));
                    }
                    lengths[s] = depth[s] as u8;
                }
            }
        }
        Self::from_lengths(&lengths)
    }

    /// The canonical code with the given code lengths (0 = symbol unused). Errors when a length
    /// exceeds 64 or the lengths violate Kraft's inequality `sum 2^-len <= 1` (no prefix code has
    /// them).
    pub fn from_lengths(lengths: &[u8]) -> Result<Self> {
        if lengths.len() > u32::MAX as usize + 1 {
            return Err(arg_err("huffman", format!("{} symbols exceed 2^32", lengths.len())));
        }
        let max_len = lengths.iter().copied().max().unwrap_or(0) as usize;
        if max_len > 64 {
            return Err(arg_err("huffman", format!("code length {max_len} exceeds 64")));
        }
        let mut count = vec![0u64; max_len + 1];
        for &l in lengths.iter().filter(|&&l| l > 0) {
            count[l as usize] += 1;
        }
        // Kraft: sum count[l] 2^(max - l) <= 2^max, in u128 to hold 2^64.
        let kraft: u128 = (1..=max_len).map(|l| (count[l] as u128) << (max_len - l)).sum();
        if max_len > 0 && kraft > 1u128 << max_len {
            return Err(arg_err("huffman", "code lengths violate Kraft's inequality"));
        }
        let mut sorted: Vec<u32> =
            (0..lengths.len() as u64).filter(|&s| lengths[s as usize] > 0).map(|s| s as u32).collect();
        sorted.sort_by_key(|&s| (lengths[s as usize], s));
        let (mut first, mut offset) = (vec![0u64; max_len + 1], vec![0usize; max_len + 1]);
        let (mut code, mut pos) = (0u64, 0usize);
        for l in 1..=max_len {
            // Kraft's inequality keeps `code` below 2^l, so the shift cannot overflow for l <= 64.
            first[l] = code;
            offset[l] = pos;
            pos += count[l] as usize;
            code = code.wrapping_add(count[l]);
            if l < max_len {
                code <<= 1;
            }
        }
        let mut codes = vec![0u64; lengths.len()];
        for (rank, &s) in sorted.iter().enumerate() {
            let l = lengths[s as usize] as usize;
            codes[s as usize] = first[l] + (rank - offset[l]) as u64;
        }
        Ok(Self { lengths: lengths.to_vec(), codes, sorted, count, first, offset })
    }

    /// Code length of every symbol (0 = no code).
    pub fn lengths(&self) -> &[u8] {
        &self.lengths
    }

    /// The code of `symbol` as `(value, length)`, its bits being the low `length` bits of `value`, most
    /// significant first; `None` for a symbol without a code.
    pub fn code(&self, symbol: u32) -> Option<(u64, u8)> {
        let s = symbol as usize;
        (s < self.lengths.len() && self.lengths[s] > 0).then(|| (self.codes[s], self.lengths[s]))
    }

    /// The concatenated codes of `symbols`; errors on a symbol without a code.
    pub fn encode(&self, symbols: &[u32]) -> Result<BitVec> {
        let mut bits = BitVec::new();
        for &s in symbols {
            let (code, len) =
                self.code(s).ok_or_else(|| arg_err("huffman encode", format!("symbol {s} has no code")))?;
            bits.push_code(code, len);
        }
        Ok(bits)
    }

    /// Decodes `count` symbols from the start of `bits`; errors when the bits run out or do not form a
    /// code word.
    pub fn decode(&self, bits: &BitVec, count: usize) -> Result<Vec<u32>> {
        let max_len = self.count.len().saturating_sub(1);
        let mut out = Vec::with_capacity(count);
        let mut pos = 0;
        for _ in 0..count {
            let (mut code, mut len) = (0u64, 0usize);
            loop {
                let bit = bits.get(pos).ok_or_else(|| arg_err("huffman decode", "bits ended inside a code word"))?;
                pos += 1;
                code = (code << 1) | bit as u64;
                len += 1;
                if len > max_len {
                    return Err(arg_err("huffman decode", format!("no code word ends at bit {pos}")));
                }
                if code >= self.first[len] && code - self.first[len] < self.count[len] {
                    out.push(self.sorted[self.offset[len] + (code - self.first[len]) as usize]);
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Bits of a stream with `freqs[s]` occurrences of each symbol: `sum freqs[s] len[s]`; errors when
    /// a symbol that occurs has no code or the lengths differ.
    pub fn coded_bits(&self, freqs: &[u64]) -> Result<u64> {
        if freqs.len() != self.lengths.len() {
            return Err(shape_err("huffman coded_bits", &[self.lengths.len()], &[freqs.len()], "one count per symbol"));
        }
        let mut total = 0u64;
        for (s, (&f, &l)) in freqs.iter().zip(&self.lengths).enumerate() {
            if f > 0 && l == 0 {
                return Err(arg_err("huffman coded_bits", format!("symbol {s} occurs but has no code")));
            }
            total += f * l as u64;
        }
        Ok(total)
    }

    /// Bits to transmit the code itself: 8 bits (the length) per symbol of the alphabet, which is all
    /// a decoder needs for a canonical code.
    pub fn table_bits(&self) -> u64 {
        8 * self.lengths.len() as u64
    }
}

/// Symbol frequencies of a stream over the alphabet `0..alphabet`; errors on a symbol outside it.
pub fn frequencies(symbols: &[u32], alphabet: usize) -> Result<Vec<u64>> {
    let mut f = vec![0u64; alphabet];
    for &s in symbols {
        *f.get_mut(s as usize)
            .ok_or_else(|| arg_err("frequencies", format!("symbol {s} >= alphabet {alphabet}")))? += 1;
    }
    Ok(f)
}

/// Bits of the Huffman-coded stream with the given symbol counts (without the table): the Huffman
/// code of the counts applied to them.
pub fn huffman_bits(freqs: &[u64]) -> Result<u64> {
    HuffmanCode::from_frequencies(freqs)?.coded_bits(freqs)
}

/// One stored entry of the relative-index sparse format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelEntry {
    /// Zeros skipped since the previous stored entry (or the start), `< 2^index_bits`.
    pub gap: u32,
    /// Flat position of the kept weight, or `None` for a filler zero.
    pub position: Option<usize>,
}

/// The relative-index encoding of Deep Compression (§2, Fig. 2): each kept entry stores the number of
/// entries skipped since the previous stored one in `index_bits` bits; a gap larger than
/// `2^index_bits - 1` is bridged by filler zeros, each stored like an entry (with gap
/// `2^index_bits - 1`), so a gap `g` costs `floor(g / 2^index_bits)` fillers. Trailing zeros are not
/// stored (the length is known). Errors unless `index_bits` is in `1..=16`.
pub fn relative_index(kept: &[bool], index_bits: u32) -> Result<Vec<RelEntry>> {
    if !(1..=16).contains(&index_bits) {
        return Err(arg_err("relative_index", format!("index_bits must be in 1..=16, got {index_bits}")));
    }
    let span = 1usize << index_bits; // positions one filler advances: `2^index_bits - 1` skipped + itself
    let mut out = Vec::new();
    let mut next = 0; // first position after the previous stored entry
    for (p, _) in kept.iter().enumerate().filter(|&(_, &k)| k) {
        let mut gap = p - next;
        while gap >= span {
            out.push(RelEntry { gap: span as u32 - 1, position: None });
            gap -= span;
        }
        out.push(RelEntry { gap: gap as u32, position: Some(p) });
        next = p + 1;
    }
    Ok(out)
}

/// The size of one weight tensor in the storage formats of Deep Compression, in bits.
///
/// Without a pruning mask the layout is dense (no index): `sparse_bits = dense_bits`, the quantized
/// form is `n bits + 32 k` (indices plus an f32 codebook of `k = 2^bits` entries), the Huffman form
/// codes the indices with the Huffman code of their frequencies.
///
/// With a mask, the kept entries and filler zeros are stored with `index_bits` relative indices
/// ([`relative_index`]); each stored entry also carries a value: an f32 in `sparse_bits`, a codebook
/// index in `quantized_bits` and `huffman_bits`. A filler's value is a zero that is not in the
/// codebook, so when fillers occur the value alphabet has `k + 1` symbols and fixed-width values take
/// `ceil(log2(k + 1))` bits.
///
/// `huffman_bits` Huffman-codes the value stream and (when sparse) the gap stream separately, and adds
/// the codebook and both code tables (8 bits per alphabet symbol, [`HuffmanCode::table_bits`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SizeReport {
    /// Entries of the tensor.
    pub len: usize,
    /// Kept (unpruned) entries.
    pub nnz: usize,
    /// Filler zeros of the relative index (0 without a mask).
    pub fillers: usize,
    /// Dense f32: `32 len`.
    pub dense_bits: u64,
    /// Pruned, f32 values: `(nnz + fillers)(32 + index_bits)`; `dense_bits` without a mask.
    pub sparse_bits: u64,
    /// Pruned and quantized, fixed-width indices, plus the codebook.
    pub quantized_bits: u64,
    /// Pruned, quantized and Huffman-coded, plus codebook and code tables.
    pub huffman_bits: u64,
}

impl SizeReport {
    /// `dense_bits / huffman_bits`: the compression ratio of the full pipeline (the paper's figure).
    pub fn ratio(&self) -> f64 {
        self.dense_bits as f64 / self.huffman_bits.max(1) as f64
    }
}

impl std::ops::Add for SizeReport {
    type Output = SizeReport;
    fn add(self, o: SizeReport) -> SizeReport {
        SizeReport {
            len: self.len + o.len,
            nnz: self.nnz + o.nnz,
            fillers: self.fillers + o.fillers,
            dense_bits: self.dense_bits + o.dense_bits,
            sparse_bits: self.sparse_bits + o.sparse_bits,
            quantized_bits: self.quantized_bits + o.quantized_bits,
            huffman_bits: self.huffman_bits + o.huffman_bits,
        }
    }
}

impl std::iter::Sum for SizeReport {
    fn sum<I: Iterator<Item = SizeReport>>(iter: I) -> SizeReport {
        iter.fold(SizeReport::default(), |a, b| a + b)
    }
}

/// Bits to write one of `n` symbols at fixed width: `ceil(log2 n)` (0 for `n <= 1`).
pub fn fixed_width(n: usize) -> u32 {
    if n <= 1 { 0 } else { usize::BITS - (n - 1).leading_zeros() }
}

/// The [`SizeReport`] of a k-means-shared tensor, sparse with `index_bits` relative indices when it
/// carries a pruning mask (Deep Compression uses 8 for convolutions and 5 for fully connected
/// layers).
pub fn compressed_size(shared: &SharedWeights, index_bits: u32) -> Result<SizeReport> {
    compressed_size_parts(shared.indices(), shared.kept(), 1usize << shared.bits(), index_bits)
}

/// [`compressed_size`] from its parts: the codebook index of every entry, the kept flags (`None`: no
/// pruning) and the codebook size.
pub fn compressed_size_parts(
    indices: &[u8],
    kept: Option<&[bool]>,
    codebook_len: usize,
    index_bits: u32,
) -> Result<SizeReport> {
    if let Some(k) = kept.filter(|k| k.len() != indices.len()) {
        return Err(shape_err("compressed_size", &[indices.len()], &[k.len()], "one kept flag per index"));
    }
    if let Some(&i) = indices.iter().find(|&&i| i as usize >= codebook_len) {
        return Err(arg_err("compressed_size", format!("index {i} outside a codebook of {codebook_len}")));
    }
    let len = indices.len();
    let dense_bits = 32 * len as u64;
    let codebook_bits = 32 * codebook_len as u64;
    let Some(kept) = kept else {
        let mut freqs = vec![0u64; codebook_len];
        for &i in indices {
            freqs[i as usize] += 1;
        }
        let code = HuffmanCode::from_frequencies(&freqs)?;
        return Ok(SizeReport {
            len,
            nnz: len,
            fillers: 0,
            dense_bits,
            sparse_bits: dense_bits,
            quantized_bits: len as u64 * fixed_width(codebook_len) as u64 + codebook_bits,
            huffman_bits: code.coded_bits(&freqs)? + codebook_bits + code.table_bits(),
        });
    };
    let entries = relative_index(kept, index_bits)?;
    let nnz = kept.iter().filter(|&&k| k).count();
    let fillers = entries.len() - nnz;
    // Value symbols: codebook indices, and `codebook_len` for a filler zero.
    let alphabet = codebook_len + (fillers > 0) as usize;
    let mut value_freqs = vec![0u64; alphabet];
    let mut gap_freqs = vec![0u64; 1 << index_bits];
    for e in &entries {
        value_freqs[e.position.map_or(codebook_len, |p| indices[p] as usize)] += 1;
        gap_freqs[e.gap as usize] += 1;
    }
    let stored = entries.len() as u64;
    let value_code = HuffmanCode::from_frequencies(&value_freqs)?;
    let gap_code = HuffmanCode::from_frequencies(&gap_freqs)?;
    Ok(SizeReport {
        len,
        nnz,
        fillers,
        dense_bits,
        sparse_bits: stored * (32 + index_bits as u64),
        quantized_bits: stored * (fixed_width(alphabet) as u64 + index_bits as u64) + codebook_bits,
        huffman_bits: value_code.coded_bits(&value_freqs)?
            + gap_code.coded_bits(&gap_freqs)?
            + codebook_bits
            + value_code.table_bits()
            + gap_code.table_bits(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_index_matches_the_papers_figure() {
        // Deep Compression Fig. 2 (3-bit gaps): non-zeros at positions 1, 4 and 15 of 16. The gap of
        // 10 before position 15 exceeds 7, so a filler zero is stored at position 12 (gap 7), then
        // position 15 follows with gap 2.
        let mut kept = [false; 16];
        for p in [1, 4, 15] {
            kept[p] = true;
        }
        let r = relative_index(&kept, 3).unwrap();
        let got: Vec<(u32, Option<usize>)> = r.iter().map(|e| (e.gap, e.position)).collect();
        assert_eq!(got, vec![(1, Some(1)), (2, Some(4)), (7, None), (2, Some(15))]);
    }

    #[test]
    fn fixed_width_is_ceil_log2() {
        let want = [(0, 0), (1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (16, 4), (17, 5), (256, 8), (257, 9)];
        for (n, w) in want {
            assert_eq!(fixed_width(n), w, "n = {n}");
        }
    }
}
