//! Response caches in front of an endpoint's model, one per site: a lookup (its latency), then a
//! hit answers from the cache and a miss goes on to the feature store and the model. With the key
//! model a request asks for a Zipf-popular key; a miss fills the entry at once (the model's answer
//! is what is cached, and later requests for the key find it), which slightly flatters the cache
//! under bursts of one key. Entries expire after the TTL; past the capacity the least recently used
//! of five sampled entries is evicted, as Redis's approximated LRU does. A region's outage empties
//! its caches: they come back cold.

use super::request::Stamp;
use super::{Event, World, NONE};
use crate::model::{CacheLookup, CacheModel};
use crate::rng::Rng;
use crate::units::Nanos;
use rand::Rng as _;
use rand_distr::{Distribution, Zipf};

/// Entries sampled for an eviction (Redis's `maxmemory-samples` default).
const EVICTION_SAMPLES: usize = 5;

pub(super) struct CacheState {
    rng: Rng,
    /// How a lookup decides, from the model: the law is built once per site.
    rule: Rule,
    /// Per key: when its entry expires and when it was last used.
    expires: Vec<Nanos>,
    used: Vec<Nanos>,
    /// Per key: its place in `entries`, or NONE; `entries`: the keys cached.
    position: Vec<u32>,
    entries: Vec<u32>,
}

enum Rule {
    Ratio(f64),
    Keys { law: Zipf<f64>, ttl: Option<Nanos>, capacity: u32 },
}

impl CacheState {
    pub(super) fn new(model: &CacheModel, rng: Rng) -> CacheState {
        let (rule, keys) = match model.lookup {
            CacheLookup::Ratio(ratio) => (Rule::Ratio(ratio), 0),
            CacheLookup::Keys { keys, zipf, ttl, capacity } => {
                let law = Zipf::new(f64::from(keys), zipf).expect("checked when built");
                (Rule::Keys { law, ttl, capacity }, keys as usize)
            }
        };
        CacheState {
            rng,
            rule,
            expires: vec![0; keys],
            used: vec![0; keys],
            position: vec![NONE; keys],
            entries: Vec::with_capacity(keys.min(1 << 20)),
        }
    }

    pub(super) fn sample_latency(&mut self, model: &CacheModel) -> Nanos {
        model.latency.sample(&mut self.rng)
    }

    /// Whether the lookup hits; a miss fills the entry (evicting one when full).
    pub(super) fn lookup(&mut self, now: Nanos) -> bool {
        let (zipf, ttl, capacity) = match &self.rule {
            Rule::Ratio(ratio) => return self.rng.random::<f64>() < *ratio,
            Rule::Keys { law, ttl, capacity } => (law, *ttl, *capacity),
        };
        let key = (zipf.sample(&mut self.rng) as usize).saturating_sub(1);
        if self.position[key] != NONE && self.expires[key] > now {
            self.used[key] = now;
            return true;
        }
        if self.position[key] == NONE {
            if self.entries.len() >= capacity as usize {
                self.evict(now);
            }
            self.position[key] = self.entries.len() as u32;
            self.entries.push(key as u32);
        }
        self.expires[key] = ttl.map_or(Nanos::MAX, |t| now.saturating_add(t));
        self.used[key] = now;
        false
    }

    /// Evicts the least recently used of a few sampled entries (an expired one counts as oldest).
    fn evict(&mut self, now: Nanos) {
        let mut victim = self.rng.random_range(0..self.entries.len());
        for _ in 1..EVICTION_SAMPLES {
            let k = self.rng.random_range(0..self.entries.len());
            let age = |place: usize| {
                let key = self.entries[place] as usize;
                if self.expires[key] <= now {
                    0
                } else {
                    self.used[key].saturating_add(1)
                }
            };
            if age(k) < age(victim) {
                victim = k;
            }
        }
        let key = self.entries.swap_remove(victim) as usize;
        self.position[key] = NONE;
        if let Some(&moved) = self.entries.get(victim) {
            self.position[moved as usize] = victim as u32;
        }
    }

    /// Everything gone (the region went out).
    pub(super) fn clear(&mut self) {
        for &key in &self.entries {
            self.position[key as usize] = NONE;
        }
        self.entries.clear();
    }
}

impl World<'_> {
    /// A miss: the stages of a pipeline, or the feature store and the model.
    fn features_after_cache(&mut self, id: u32) {
        let request = &self.requests[id as usize];
        let (pool, site) = (request.pool, request.site);
        match self.pools[pool as usize].serving {
            Some(serving) => self.look_up_features(id, serving, site),
            None => {
                self.stamp(id, Stamp::CacheDone);
                self.start_stage(id, 0)
            }
        }
    }

    /// The cache lookup of a request about to call the model (after the A/B split).
    #[cold]
    pub(super) fn look_up_cache(&mut self, id: u32, model: &CacheModel) {
        let site = self.requests[id as usize].site;
        // The site's cache is its primary's: an A/B variant with a cache of its own has none here.
        let Some(cache) = self.sites[site as usize].cache.as_mut() else {
            self.features_after_cache(id);
            return;
        };
        let delay = cache.sample_latency(model);
        self.schedule_in(delay, model.latency.is_constant(), Event::CacheDone { request: id });
    }

    pub(super) fn on_cache_done(&mut self, id: u32) {
        let request = self.requests[id as usize];
        let now = self.now;
        let cache = self.sites[request.site as usize].cache.as_mut().expect("a cache per site");
        let hit = cache.lookup(now);
        if request.sent >= self.model.warmup {
            let metrics = &mut self.pools[request.pool as usize].metrics;
            if hit {
                metrics.cache_hits += 1;
            } else {
                metrics.cache_misses += 1;
            }
        }
        if !hit {
            self.features_after_cache(id);
            return;
        }
        self.stamp(id, Stamp::CacheDone);
        self.unassign(id);
        if request.one_way == 0 {
            self.finish_cached(id);
        } else {
            self.schedule_in(request.one_way, true, Event::CachedRespond { request: id });
        }
    }
}
