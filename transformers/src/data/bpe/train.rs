//! Training byte-level BPE (Sennrich et al. 2016, "Neural Machine Translation of Rare Words with
//! Subword Units"; GPT-2's byte-level variant, Radford et al. 2019).
//!
//! The text is cut into pre-tokens ([`pre_tokenize`](super::pretok::pre_tokenize)); each distinct
//! pre-token is a word of byte symbols with its count. Each step merges the most frequent adjacent
//! pair inside words, counted with multiplicity, into a new token. Ties go to the pair that is
//! smaller in Hugging Face's ids (bytes ranked by their GPT-2 character, merged tokens by creation),
//! compared first on the left token, then the right: the tie-break of `tokenizers`' `BpeTrainer`, so
//! the two learn the same merges from the same text.
//!
//! Pair counts are kept incrementally: a merge rewrites only the words that hold the pair (an
//! index from pair to words) and applies their pairs' count changes. The most frequent pair comes
//! from a max-heap with lazy deletion: an entry whose count is stale is pushed back with the
//! current count (counts of existing pairs only fall, so stale entries only overestimate).

use super::byte_map::hf_byte_ids;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

type Pair = (u32, u32);

/// A heap entry: the pair's count when pushed, its tie-break key (reversed, so the smaller pair is
/// the larger entry), and the pair.
type Entry = (u64, Reverse<Pair>, Pair);

/// One merge the trainer chose: the pair and how often it occurred when chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Learned {
    pub pair: Pair,
    pub count: u64,
}

/// Rewrites `word`, merging every occurrence of `pair` left to right into `new`; returns whether
/// anything changed.
pub(super) fn merge_word(word: &mut Vec<u32>, pair: Pair, new: u32) -> bool {
    let mut out = Vec::with_capacity(word.len());
    let mut i = 0;
    while i < word.len() {
        if i + 1 < word.len() && (word[i], word[i + 1]) == pair {
            out.push(new);
            i += 2;
        } else {
            out.push(word[i]);
            i += 1;
        }
    }
    let changed = out.len() != word.len();
    *word = out;
    changed
}

/// Learns merges over `words` (symbol sequences of bytes `0..256` with counts) until `token_of`
/// says the vocabulary is full or the best pair occurs fewer than `min_frequency` times.
/// `token_of` gives the id a merge's concatenation gets (an existing id when the bytes already
/// are a token, else the next one) and whether the vocabulary is now full; it is called once per
/// merge, in order.
pub(super) fn learn(
    words: &mut [(Vec<u32>, u64)],
    min_frequency: u64,
    mut token_of: impl FnMut(Pair) -> (u32, bool),
) -> Vec<Learned> {
    let byte_rank = hf_byte_ids();
    let key = |id: u32| if id < 256 { byte_rank[id as usize] } else { id };
    let order = |p: Pair| Reverse((key(p.0), key(p.1)));

    let mut counts: HashMap<Pair, u64> = HashMap::new();
    let mut holders: HashMap<Pair, HashSet<usize>> = HashMap::new();
    for (w, (word, n)) in words.iter().enumerate() {
        for p in word.windows(2) {
            let p = (p[0], p[1]);
            *counts.entry(p).or_default() += n;
            holders.entry(p).or_default().insert(w);
        }
    }
    let mut heap: BinaryHeap<Entry> = counts.iter().map(|(&p, &c)| (c, order(p), p)).collect();

    let mut learned = Vec::new();
    let mut delta: HashMap<Pair, i64> = HashMap::new();
    while let Some((count, _, pair)) = heap.pop() {
        let now = counts.get(&pair).copied().unwrap_or(0);
        if now != count {
            if now > 0 {
                heap.push((now, order(pair), pair));
            }
            continue;
        }
        if count == 0 || count < min_frequency {
            break;
        }
        let (new, full) = token_of(pair);
        learned.push(Learned { pair, count });
        let mut ws: Vec<usize> = holders.remove(&pair).unwrap_or_default().into_iter().collect();
        ws.sort_unstable();
        delta.clear();
        for w in ws {
            let (word, n) = &mut words[w];
            let n = *n as i64;
            let before = word.clone();
            if !merge_word(word, pair, new) {
                continue;
            }
            for p in before.windows(2) {
                *delta.entry((p[0], p[1])).or_default() -= n;
            }
            for p in word.windows(2) {
                let p = (p[0], p[1]);
                *delta.entry(p).or_default() += n;
                if p.0 == new || p.1 == new {
                    holders.entry(p).or_default().insert(w);
                }
            }
        }
        for (&p, &d) in &delta {
            let c = counts.entry(p).or_default();
            *c = (*c as i64 + d).max(0) as u64;
            if d > 0 {
                heap.push((*c, order(p), p));
            }
            if *c == 0 {
                counts.remove(&p);
            }
        }
        counts.remove(&pair);
        if full {
            break;
        }
    }
    learned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_word_is_left_to_right() {
        let mut w = vec![1, 1, 1];
        assert!(merge_word(&mut w, (1, 1), 9));
        assert_eq!(w, [9, 1]);
        let mut w = vec![1, 2, 1, 2, 3];
        assert!(merge_word(&mut w, (1, 2), 9));
        assert_eq!(w, [9, 9, 3]);
        assert!(!merge_word(&mut w, (1, 2), 9));
    }

    #[test]
    fn learns_the_most_frequent_pair_with_counts() {
        // "ab" x5 in "abab" (x2) and "ab" (x1); "ba" x2.
        let mut words = vec![(vec![97, 98, 97, 98], 2), (vec![97, 98], 1)];
        let mut next = 256;
        let learned = learn(&mut words, 1, |_| {
            next += 1;
            (next - 1, false)
        });
        assert_eq!(learned[0], Learned { pair: (97, 98), count: 5 });
        assert_eq!(learned[1], Learned { pair: (256, 256), count: 2 });
        assert_eq!(learned.len(), 2);
        assert_eq!(words[0].0, [257]);
    }

    #[test]
    fn ties_go_to_the_smaller_pair_in_hf_order() {
        // "ab" and " a" once each: the space's character (U+0120) ranks after 'a', so "ab" wins.
        let mut words = vec![(vec![97, 98], 1), (vec![32, 97], 1)];
        let learned = learn(&mut words, 1, |_| (256, true));
        assert_eq!(learned[0].pair, (97, 98));
        let mut words = vec![(vec![32, 97], 3)];
        assert!(learn(&mut words, 4, |_| (256, false)).is_empty(), "min frequency");
    }
}
