//! Load balancing over a deployment's replicas: which replica in the load balancer's list takes
//! the next request. Pure: the caller hands in the list's length and each position's load.

use crate::rng::Rng;
use rand::Rng as _;
use serde::{Deserialize, Serialize};

/// How a deployment's load balancer spreads requests (Envoy's and Kubernetes' usual choices);
/// written `balancer = "least_outstanding"` in a scenario.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Balancer {
    RoundRobin,
    Random,
    /// The replica with the fewest requests in it, scanning from a rotating start so ties spread.
    #[default]
    LeastOutstanding,
    /// Two replicas at random, the less loaded of them (Mitzenmacher's power of two choices).
    PowerOfTwo,
    /// LLM engines only: llm-d's endpoint picker, the replica with the best weighted score over
    /// its prefix-cache hits for the request, its queue and its free KV cache
    /// (`[serving.llm] endpoint_picker`).
    EndpointPicker,
}

/// A load balancer's own state: its rotation and its random stream.
#[derive(Clone, Debug)]
pub struct Balancing {
    next: u32,
    rng: Rng,
}

impl Balancing {
    pub fn new(rng: Rng) -> Self {
        Balancing { next: 0, rng }
    }

    /// Advances the rotation over `n` positions and returns the position it was at.
    #[inline]
    fn rotate(&mut self, n: u32) -> u32 {
        let k = self.next % n;
        self.next = if k + 1 == n { 0 } else { k + 1 };
        k
    }

    /// The position (0..n) of the replica that takes the next request; `load(k)` is the number of
    /// requests in the replica at position k. `n` must be at least 1.
    #[inline]
    pub fn pick(&mut self, balancer: Balancer, n: u32, load: impl Fn(u32) -> u32) -> u32 {
        match balancer {
            Balancer::RoundRobin => self.rotate(n),
            Balancer::Random => self.rng.random_range(0..n),
            Balancer::LeastOutstanding => {
                let start = self.rotate(n);
                let mut best = start;
                let mut best_load = load(start);
                for k in (start + 1..n).chain(0..start) {
                    let l = load(k);
                    if l < best_load {
                        best = k;
                        best_load = l;
                    }
                }
                best
            }
            // Scores need the world's view (`World::balance` scores LLM engines itself); alone it
            // is the least loaded.
            Balancer::EndpointPicker => self.pick(Balancer::LeastOutstanding, n, load),
            Balancer::PowerOfTwo => {
                if n == 1 {
                    return 0;
                }
                let a = self.rng.random_range(0..n);
                let b = (a + self.rng.random_range(1..n)) % n;
                if load(b) < load(a) {
                    b
                } else {
                    a
                }
            }
        }
    }
}

impl Balancing {
    /// The position with the highest `score`, scanning from a rotating start so that ties spread.
    pub fn pick_best(&mut self, n: u32, score: impl Fn(u32) -> f64) -> u32 {
        let start = self.rotate(n);
        let mut best = start;
        let mut best_score = score(start);
        for k in (start + 1..n).chain(0..start) {
            let s = score(k);
            if s > best_score {
                best = k;
                best_score = s;
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    fn picks(balancer: Balancer, loads: &[u32], times: usize) -> Vec<u32> {
        let mut state = Balancing::new(stream(1, "test"));
        (0..times).map(|_| state.pick(balancer, loads.len() as u32, |k| loads[k as usize])).collect()
    }

    #[test]
    fn round_robin_cycles_in_order() {
        assert_eq!(picks(Balancer::RoundRobin, &[0, 0, 0], 7), [0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn least_outstanding_takes_the_least_loaded_and_spreads_ties() {
        assert_eq!(picks(Balancer::LeastOutstanding, &[3, 1, 2], 3), [1, 1, 1]);
        // All equal: the rotating start decides, so each replica gets its turn.
        assert_eq!(picks(Balancer::LeastOutstanding, &[2, 2, 2], 4), [0, 1, 2, 0]);
        // Two tied for least: the first at or after the rotating start.
        assert_eq!(picks(Balancer::LeastOutstanding, &[1, 5, 1], 3), [0, 2, 2]);
    }

    #[test]
    fn power_of_two_never_takes_the_most_loaded_of_three() {
        // Any two distinct of three include one with load below 9.
        assert!(picks(Balancer::PowerOfTwo, &[0, 9, 0], 1000).iter().all(|&k| k != 1));
        assert_eq!(picks(Balancer::PowerOfTwo, &[4], 3), [0, 0, 0]);
    }

    #[test]
    fn random_spreads_evenly() {
        let mut counts = [0u32; 4];
        for k in picks(Balancer::Random, &[0; 4], 40_000) {
            counts[k as usize] += 1;
        }
        // 10 000 expected each; the standard deviation is about 87: 5 sigma.
        assert!(counts.iter().all(|&c| (c as i64 - 10_000).abs() < 435), "{counts:?}");
    }
}
