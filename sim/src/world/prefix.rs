//! An LLM engine's prefix cache: prompt blocks by hash, least recently used evicted first, up to
//! the KV cache's capacity in tokens. A request reuses its longest run of leading blocks found.
//! The list is intrusive (indices into `nodes`) and the map is sized at start, so lookups and
//! inserts allocate nothing once the cache is full.

use std::collections::HashMap;

const NIL: u32 = u32::MAX;

struct Node {
    key: u64,
    tokens: u32,
    /// Towards the most recently used, and towards the least.
    newer: u32,
    older: u32,
}

pub(super) struct PrefixCache {
    map: HashMap<u64, u32>,
    nodes: Vec<Node>,
    free: Vec<u32>,
    newest: u32,
    oldest: u32,
    capacity_tokens: u64,
    used_tokens: u64,
}

impl PrefixCache {
    /// A cache of `capacity_tokens`, expecting blocks of at least `block_tokens`.
    pub(super) fn new(capacity_tokens: u64, block_tokens: u32) -> Self {
        let entries = (capacity_tokens / u64::from(block_tokens.max(1))).min(1 << 20) as usize;
        PrefixCache {
            map: HashMap::with_capacity(entries),
            nodes: Vec::with_capacity(entries),
            free: Vec::new(),
            newest: NIL,
            oldest: NIL,
            capacity_tokens,
            used_tokens: 0,
        }
    }

    /// Whether `key` is cached; a hit becomes the most recently used.
    pub(super) fn touch(&mut self, key: u64) -> bool {
        let Some(&node) = self.map.get(&key) else { return false };
        self.unlink(node);
        self.push_newest(node);
        true
    }

    /// Whether `key` is cached, leaving the order as it is (a router's look).
    pub(super) fn contains(&self, key: u64) -> bool {
        self.map.contains_key(&key)
    }

    /// Caches `key` (`tokens` of prompt) as the most recently used, evicting the least recently
    /// used blocks to make room.
    pub(super) fn insert(&mut self, key: u64, tokens: u32) {
        if self.touch(key) || u64::from(tokens) > self.capacity_tokens {
            return;
        }
        while self.used_tokens + u64::from(tokens) > self.capacity_tokens {
            let oldest = self.oldest;
            self.unlink(oldest);
            let node = &self.nodes[oldest as usize];
            self.used_tokens -= u64::from(node.tokens);
            self.map.remove(&node.key);
            self.free.push(oldest);
        }
        let node = Node { key, tokens, newer: NIL, older: NIL };
        let index = match self.free.pop() {
            Some(index) => {
                self.nodes[index as usize] = node;
                index
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() as u32 - 1
            }
        };
        self.map.insert(key, index);
        self.used_tokens += u64::from(tokens);
        self.push_newest(index);
    }

    /// Forgets everything (the engine restarted).
    pub(super) fn clear(&mut self) {
        self.map.clear();
        self.nodes.clear();
        self.free.clear();
        self.newest = NIL;
        self.oldest = NIL;
        self.used_tokens = 0;
    }

    fn unlink(&mut self, index: u32) {
        let (newer, older) = (self.nodes[index as usize].newer, self.nodes[index as usize].older);
        match newer {
            NIL => self.newest = older,
            n => self.nodes[n as usize].older = older,
        }
        match older {
            NIL => self.oldest = newer,
            o => self.nodes[o as usize].newer = newer,
        }
    }

    fn push_newest(&mut self, index: u32) {
        self.nodes[index as usize].newer = NIL;
        self.nodes[index as usize].older = self.newest;
        if self.newest != NIL {
            self.nodes[self.newest as usize].newer = index;
        }
        self.newest = index;
        if self.oldest == NIL {
            self.oldest = index;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_least_recently_used_blocks() {
        let mut cache = PrefixCache::new(48, 16);
        cache.insert(1, 16);
        cache.insert(2, 16);
        cache.insert(3, 16);
        assert!(cache.touch(1)); // 1 is now the newest: 2 is the oldest
        cache.insert(4, 16);
        assert!(!cache.touch(2));
        assert!(cache.touch(3) && cache.touch(1) && cache.touch(4));
        cache.insert(5, 32); // evicts 3 and 1, the two oldest
        assert!(!cache.touch(3) && !cache.touch(1));
        assert!(cache.touch(4) && cache.touch(5));
        assert_eq!(cache.used_tokens, 48);
    }
}
