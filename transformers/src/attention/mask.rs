//! Which keys a query may attend to.

use serde::{Deserialize, Serialize};

/// The visibility rule of one attention call: key `j` is visible from query `i` of batch row `b` when
/// every enabled condition holds.
///
/// Positions are absolute: query `i` sits at position `query_offset + i` (with a KV cache holding
/// `query_offset` earlier tokens, the keys are positions `0..S` and the new queries come after them).
/// - `causal`: `j <= query_offset + i`;
/// - `key_lengths[b]`: `j < key_lengths[b]` (right padding of a batch of unequal sequences);
/// - `window = Some(w)`: `query_offset + i - j < w` (sliding-window attention), except that the first
///   `sinks` keys stay visible (StreamingLLM's attention sinks, Xiao et al. 2023).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttentionMask {
    /// Queries see no later key.
    pub causal: bool,
    /// Number of valid keys per batch row (`None`: all keys are valid).
    pub key_lengths: Option<Vec<usize>>,
    /// Position of query 0 relative to key 0.
    pub query_offset: usize,
    /// Keys further back than this many positions are hidden (`None`: no window).
    pub window: Option<usize>,
    /// With a window, this many leading keys stay visible.
    pub sinks: usize,
}

impl AttentionMask {
    /// No masking: every query sees every key.
    pub fn full() -> Self {
        Self::default()
    }

    /// The causal mask of a decoder.
    pub fn causal() -> Self {
        Self { causal: true, ..Self::default() }
    }

    /// True when query `i` of batch row `b` may attend to key `j`.
    #[inline]
    pub fn allows(&self, b: usize, i: usize, j: usize) -> bool {
        let pos = self.query_offset + i;
        if self.causal && j > pos {
            return false;
        }
        if let Some(lengths) = &self.key_lengths
            && j >= lengths[b]
        {
            return false;
        }
        if let Some(w) = self.window
            && j >= self.sinks
            && pos >= j
            && pos - j >= w
        {
            return false;
        }
        true
    }

    /// A bound on the keys among `0..keys` that queries `0..queries_end` of batch row `b` may see:
    /// every visible key is below it (the causal limit of the last query and the row's length).
    pub fn keys_before(&self, b: usize, queries_end: usize, keys: usize) -> usize {
        let mut end = keys;
        if self.causal {
            end = end.min(self.query_offset + queries_end);
        }
        if let Some(lengths) = &self.key_lengths {
            end = end.min(lengths[b]);
        }
        end
    }

    /// The keys among `0..keys` visible from query `i` of batch row `b`, when they form one contiguous
    /// range (always, except a sliding window whose sinks leave a gap before the window): the rows a
    /// kernel can softmax as one slice. `None` when the visible keys are not contiguous.
    pub fn visible_span(&self, b: usize, i: usize, keys: usize) -> Option<std::ops::Range<usize>> {
        let pos = self.query_offset + i;
        let mut hi = self.keys_before(b, i + 1, keys);
        let mut lo = 0;
        if let Some(w) = self.window
            && pos >= w
        {
            // Keys sinks..cut are hidden (at least w positions back), the sinks before them are not.
            let cut = pos - w + 1;
            if self.sinks == 0 {
                lo = cut;
            } else if self.sinks < cut && hi > self.sinks {
                if cut < hi {
                    return None;
                }
                hi = self.sinks;
            }
        }
        Some(lo.min(hi)..hi)
    }

    /// True when no key in `keys` is visible from any query in `queries` of batch row `b`: the tiles a
    /// blocked kernel may skip. Conservative (may answer false for an all-hidden tile, never true for a
    /// tile with a visible key).
    pub fn hides_tile(&self, b: usize, queries: std::ops::Range<usize>, keys: std::ops::Range<usize>) -> bool {
        if queries.is_empty() || keys.is_empty() {
            return true;
        }
        let last_pos = self.query_offset + queries.end - 1;
        if self.causal && keys.start > last_pos {
            return true;
        }
        if let Some(lengths) = &self.key_lengths
            && keys.start >= lengths[b]
        {
            return true;
        }
        if let Some(w) = self.window {
            let first_pos = self.query_offset + queries.start;
            // The nearest key of the tile to the first query is keys.end - 1.
            if keys.end <= first_pos && keys.start >= self.sinks && first_pos - (keys.end - 1) >= w {
                return true;
            }
        }
        false
    }

    /// True when every key in `keys` is visible from every query in `queries` of batch row `b`: the
    /// tiles a blocked kernel may compute without testing each element. Conservative (may answer false
    /// for an all-visible tile, never true for a tile with a hidden key).
    pub fn shows_tile(&self, b: usize, queries: std::ops::Range<usize>, keys: std::ops::Range<usize>) -> bool {
        if queries.is_empty() || keys.is_empty() {
            return true;
        }
        let first_pos = self.query_offset + queries.start;
        let last_pos = self.query_offset + queries.end - 1;
        if self.causal && keys.end - 1 > first_pos {
            return false;
        }
        if let Some(lengths) = &self.key_lengths
            && keys.end > lengths[b]
        {
            return false;
        }
        if let Some(w) = self.window
            && keys.end > self.sinks
            && last_pos.saturating_sub(keys.start) >= w
        {
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_skipping_never_hides_a_visible_key_nor_shows_a_hidden_one() {
        let masks = [
            AttentionMask::causal(),
            AttentionMask { causal: true, query_offset: 5, window: Some(3), sinks: 2, ..AttentionMask::default() },
            AttentionMask { key_lengths: Some(vec![4, 9]), ..AttentionMask::default() },
            AttentionMask { window: Some(4), sinks: 1, ..AttentionMask::default() },
            AttentionMask::full(),
        ];
        for m in &masks {
            for b in 0..2 {
                for q0 in 0..10 {
                    for q1 in q0..12 {
                        for k0 in 0..12 {
                            for k1 in k0..14 {
                                if m.hides_tile(b, q0..q1, k0..k1) {
                                    for i in q0..q1 {
                                        for j in k0..k1 {
                                            assert!(!m.allows(b, i, j), "{m:?} b{b} {q0}..{q1} {k0}..{k1}");
                                        }
                                    }
                                }
                                if m.shows_tile(b, q0..q1, k0..k1) {
                                    for i in q0..q1 {
                                        for j in k0..k1 {
                                            assert!(m.allows(b, i, j), "{m:?} b{b} {q0}..{q1} {k0}..{k1}");
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn visible_spans_are_exactly_the_allowed_keys() {
        for causal in [false, true] {
            for window in [None, Some(1), Some(3), Some(6)] {
                for sinks in [0, 1, 2, 5] {
                    for offset in [0, 4] {
                        let m = AttentionMask {
                            causal,
                            key_lengths: Some(vec![9, 4]),
                            query_offset: offset,
                            window,
                            sinks,
                        };
                        for (b, i) in (0..2).flat_map(|b| (0..6).map(move |i| (b, i))) {
                            let allowed: Vec<usize> = (0..10).filter(|&j| m.allows(b, i, j)).collect();
                            let bound = m.keys_before(b, i + 1, 10);
                            assert!(allowed.iter().all(|&j| j < bound), "{m:?} b {b} i {i}: bound {bound}");
                            match m.visible_span(b, i, 10) {
                                Some(span) => assert_eq!(allowed, span.collect::<Vec<_>>(), "{m:?} b {b} i {i}"),
                                None => assert!(
                                    allowed.windows(2).any(|w| w[1] != w[0] + 1),
                                    "{m:?} b {b} i {i}: contiguous {allowed:?} reported as a gap"
                                ),
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn sinks_stay_visible_through_the_window() {
        let m = AttentionMask { causal: true, window: Some(4), sinks: 1, query_offset: 10, ..AttentionMask::default() };
        let visible: Vec<usize> = (0..=10).filter(|&j| m.allows(0, 0, j)).collect();
        assert_eq!(visible, vec![0, 7, 8, 9, 10]);
    }
}
