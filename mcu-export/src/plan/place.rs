//! Placement of buffers with known sizes and lifetimes in one arena: TFLite Micro's
//! `GreedyMemoryPlanner` (largest buffer first, each at the lowest offset that does not overlap a
//! placed buffer alive at the same time).

/// A buffer to place: `size` bytes alive from step `first` to step `last` (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    /// Bytes.
    pub size: usize,
    /// First step it is alive.
    pub first: usize,
    /// Last step it is alive.
    pub last: usize,
}

impl Interval {
    /// True when both are alive at some step.
    pub fn overlaps_in_time(&self, other: &Interval) -> bool {
        self.first <= other.last && other.first <= self.last
    }
}

/// Offsets for `buffers` (same order) and the arena size. Larger buffers are placed first (ties: the
/// one alive first, then the lower index), each at the lowest offset where it fits between the
/// buffers already placed whose lifetimes intersect its own; offsets are aligned to `align` bytes.
pub fn greedy_by_size(buffers: &[Interval], align: usize) -> (Vec<usize>, usize) {
    let align = align.max(1);
    let mut order: Vec<usize> = (0..buffers.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(buffers[i].size), buffers[i].first, i));
    let mut offsets = vec![0usize; buffers.len()];
    let mut placed: Vec<usize> = Vec::with_capacity(buffers.len());
    let mut arena = 0;
    for &i in &order {
        let b = buffers[i];
        let mut conflicts: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&j| buffers[j].overlaps_in_time(&b) && buffers[j].size > 0)
            .map(|&j| (offsets[j], offsets[j] + buffers[j].size))
            .collect();
        conflicts.sort_unstable();
        let mut candidate = 0;
        for (lo, hi) in conflicts {
            if candidate + b.size <= lo {
                break;
            }
            candidate = candidate.max(hi.div_ceil(align) * align);
        }
        offsets[i] = candidate;
        arena = arena.max(candidate + b.size);
        placed.push(i);
    }
    (offsets, arena)
}

/// The first pair of buffers alive at the same step whose byte ranges overlap, if any.
pub fn first_overlap(buffers: &[Interval], offsets: &[usize]) -> Option<(usize, usize)> {
    for i in 0..buffers.len() {
        for j in i + 1..buffers.len() {
            let (a, b) = (buffers[i], buffers[j]);
            let bytes = offsets[i] < offsets[j] + b.size && offsets[j] < offsets[i] + a.size;
            if a.size > 0 && b.size > 0 && a.overlaps_in_time(&b) && bytes {
                return Some((i, j));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disjoint_lifetimes_share_memory_and_overlapping_ones_do_not() {
        let b = [
            Interval { size: 100, first: 0, last: 1 },
            Interval { size: 60, first: 1, last: 2 },
            Interval { size: 80, first: 2, last: 3 },
        ];
        let (off, arena) = greedy_by_size(&b, 1);
        // 100 at 0; 80 (alive 2..3) can reuse 0 since the 100 is dead; 60 overlaps both in time.
        assert_eq!(off, vec![0, 100, 0]);
        assert_eq!(arena, 160);
        assert_eq!(first_overlap(&b, &off), None);
        assert_eq!(first_overlap(&b, &[0, 50, 0]), Some((0, 1)));
    }

    #[test]
    fn offsets_are_aligned() {
        let b = [Interval { size: 3, first: 0, last: 0 }, Interval { size: 5, first: 0, last: 0 }];
        let (off, arena) = greedy_by_size(&b, 4);
        assert_eq!(off, vec![8, 0]);
        assert_eq!(arena, 11);
    }
}
