//! StreamingLLM's evicting KV store (Xiao et al. 2023, "Efficient Streaming Language Models with
//! Attention Sinks"): the keys and values of the first `sinks` tokens (the attention sinks) and of the
//! most recent `window` tokens; everything in between is dropped as new tokens arrive, so memory and
//! the cost of a step stay bounded however long the stream. With `sinks = 0` it is window attention,
//! the baseline the paper shows collapsing once the first tokens are evicted.

use super::cache::{DenseKv, KvStore};
use tinylab_classical::error::arg_err;
use tinylab_classical::{Result, Tensor};

/// Sinks plus a recent window, on [`DenseKv`] storage; held keys are in stream order (sinks first).
#[derive(Debug, Clone)]
pub struct SinkWindowKv {
    held: DenseKv,
    sinks: usize,
    window: usize,
}

impl SinkWindowKv {
    /// An empty store for `batch` rows of `heads` heads of width `head_dim` keeping `sinks` first
    /// tokens and `window` recent ones; `window` must be positive (the newest token needs a slot).
    pub fn new(batch: usize, heads: usize, head_dim: usize, sinks: usize, window: usize) -> Result<Self> {
        if window == 0 {
            return Err(arg_err("sink_window_kv", "the recent window must hold at least one token".to_string()));
        }
        Ok(Self { held: DenseKv::new(batch, heads, head_dim, sinks + window + 1), sinks, window })
    }

    /// The most tokens held: `sinks + window`.
    pub fn capacity(&self) -> usize {
        self.sinks + self.window
    }
}

impl KvStore for SinkWindowKv {
    fn append(&mut self, keys: &Tensor, values: &Tensor) -> Result<()> {
        self.held_after(keys.shape().get(2).copied().unwrap_or(0))?;
        self.held.append(keys, values)?;
        let len = self.held.len();
        if len > self.capacity() {
            self.held.evict(self.sinks..len - self.window);
        }
        Ok(())
    }

    fn len(&self) -> usize {
        self.held.len()
    }

    fn keys(&self) -> Tensor {
        self.held.keys()
    }

    fn values(&self) -> Tensor {
        self.held.values()
    }

    fn bytes(&self) -> usize {
        self.held.bytes()
    }

    /// Refuses a step whose new tokens would not all fit: those beyond the sink slots still free must
    /// fit in the window (each new query attends to all the new keys before it).
    fn held_after(&self, new: usize) -> Result<usize> {
        let free_sinks = self.sinks.saturating_sub(self.held.len());
        if new.saturating_sub(free_sinks) > self.window {
            return Err(arg_err(
                "sink_window_kv",
                format!(
                    "{new} new tokens do not fit a window of {} (after {} free sink slots); feed them in smaller steps",
                    self.window, free_sinks
                ),
            ));
        }
        Ok((self.held.len() + new).min(self.capacity()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tinylab_classical::tensor::from_vec;

    /// Tokens whose one-channel keys are their stream index; the held keys must be the sinks then the
    /// window, in order.
    #[test]
    fn keeps_the_sinks_and_the_most_recent_window() {
        let mut store = SinkWindowKv::new(1, 1, 1, 2, 3).unwrap();
        let mut next = 0.0f32;
        for step in [1usize, 3, 1, 2, 1, 3] {
            let ids: Vec<f32> = (0..step).map(|i| next + i as f32).collect();
            next += step as f32;
            let t = from_vec(&[1, 1, step, 1], ids).unwrap();
            let want = store.held_after(step).unwrap();
            store.append(&t, &t.mapv(|x| -x)).unwrap();
            assert_eq!(store.len(), want);
            let held: Vec<f32> = store.keys().iter().copied().collect();
            let n = next as usize;
            let expect: Vec<f32> = if n <= 5 {
                (0..n).map(|i| i as f32).collect()
            } else {
                [0.0, 1.0].into_iter().chain((n - 3..n).map(|i| i as f32)).collect()
            };
            assert_eq!(held, expect, "after {n} tokens");
            assert_eq!(store.values().iter().map(|x| -x).collect::<Vec<_>>(), expect);
        }
        assert_eq!(store.bytes(), 2 * 5 * 4);
    }

    #[test]
    fn refuses_steps_that_do_not_fit_and_leaves_the_store_untouched() {
        assert!(SinkWindowKv::new(1, 1, 1, 4, 0).is_err());
        let mut store = SinkWindowKv::new(1, 1, 1, 2, 3).unwrap();
        // Two free sink slots plus the window: five tokens fit, six do not.
        assert_eq!(store.held_after(5).unwrap(), 5);
        let six = from_vec(&[1, 1, 6, 1], vec![0.0; 6]).unwrap();
        let e = store.append(&six, &six).unwrap_err();
        assert!(e.to_string().contains("window of 3"), "{e}");
        assert!(store.is_empty());
        let one = from_vec(&[1, 1, 1, 1], vec![0.0]).unwrap();
        store.append(&one, &one).unwrap();
        assert!(store.held_after(5).is_err() && store.held_after(4).is_ok());
    }
}
