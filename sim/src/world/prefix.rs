//! An LLM engine's prefix cache, as vLLM keeps it: prompt blocks by hash, living in the same KV
//! block pool as everything else. A cached block that running sequences use is pinned (counted
//! once however many share it); one that none uses stays cached but counts as free, and the
//! least recently released is evicted first when the engine needs a block. A request reuses its
//! longest run of leading blocks found. The list is intrusive (indices into `nodes`) and the map
//! is sized at start, so lookups, pins and inserts allocate nothing once the cache is full.

use std::collections::HashMap;

const NIL: u32 = u32::MAX;

struct Node {
    key: u64,
    /// KV blocks the hashed block covers (a trace's hash may span several engine blocks).
    blocks: u32,
    /// Running sequences using it; at 0 it is evictable and on the list.
    users: u32,
    /// Towards the most recently released, and towards the least.
    newer: u32,
    older: u32,
}

pub(super) struct PrefixCache {
    map: HashMap<u64, u32>,
    nodes: Vec<Node>,
    free: Vec<u32>,
    /// The evictable nodes, most recently released first.
    newest: u32,
    oldest: u32,
    evictable_blocks: u32,
}

impl PrefixCache {
    /// A cache within a pool of `kv_blocks`.
    pub(super) fn new(kv_blocks: u32) -> Self {
        let entries = kv_blocks.min(1 << 20) as usize;
        PrefixCache {
            map: HashMap::with_capacity(entries),
            nodes: Vec::with_capacity(entries),
            free: Vec::new(),
            newest: NIL,
            oldest: NIL,
            evictable_blocks: 0,
        }
    }

    /// Whether `key` is cached (a router's look).
    pub(super) fn contains(&self, key: u64) -> bool {
        self.map.contains_key(&key)
    }

    /// Blocks that using `key` would take from the free pool, or `None` if it is not cached: its
    /// blocks if no running sequence uses it, else none.
    pub(super) fn cost_to_use(&self, key: u64) -> Option<u32> {
        let node = &self.nodes[*self.map.get(&key)? as usize];
        Some(if node.users == 0 { node.blocks } else { 0 })
    }

    /// A running sequence uses cached `key`; returns the blocks this took from the free pool.
    pub(super) fn use_block(&mut self, key: u64) -> u32 {
        let index = self.map[&key];
        let taken = if self.nodes[index as usize].users == 0 {
            self.unlink(index);
            self.evictable_blocks -= self.nodes[index as usize].blocks;
            self.nodes[index as usize].blocks
        } else {
            0
        };
        self.nodes[index as usize].users += 1;
        taken
    }

    /// A running sequence is done with `key`; returns the blocks this gave back to the free pool
    /// (still cached, now evictable).
    pub(super) fn release(&mut self, key: u64) -> u32 {
        let index = self.map[&key];
        let node = &mut self.nodes[index as usize];
        node.users -= 1;
        if node.users > 0 {
            return 0;
        }
        let blocks = node.blocks;
        self.evictable_blocks += blocks;
        self.push_newest(index);
        blocks
    }

    /// Caches `key` over `blocks` a running sequence computed and goes on using; false if it is
    /// cached already (the sequence keeps its own copy, as vLLM does).
    pub(super) fn insert_used(&mut self, key: u64, blocks: u32) -> bool {
        if self.map.contains_key(&key) {
            return false;
        }
        let node = Node { key, blocks, users: 1, newer: NIL, older: NIL };
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
        true
    }

    /// Cached blocks no running sequence uses: free for the engine to take.
    pub(super) fn evictable_blocks(&self) -> u32 {
        self.evictable_blocks
    }

    /// Evicts the least recently released blocks until at least `blocks` are uncached.
    pub(super) fn evict(&mut self, blocks: u32) {
        let mut evicted = 0;
        while evicted < blocks && self.oldest != NIL {
            let oldest = self.oldest;
            self.unlink(oldest);
            let node = &self.nodes[oldest as usize];
            evicted += node.blocks;
            self.evictable_blocks -= node.blocks;
            self.map.remove(&node.key);
            self.free.push(oldest);
        }
    }

    /// Forgets everything (the engine restarted).
    pub(super) fn clear(&mut self) {
        self.map.clear();
        self.nodes.clear();
        self.free.clear();
        self.newest = NIL;
        self.oldest = NIL;
        self.evictable_blocks = 0;
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
    fn shared_blocks_are_counted_once_and_evicted_least_recently_released_first() {
        let mut cache = PrefixCache::new(16);
        assert!(cache.insert_used(1, 2) && cache.insert_used(2, 2));
        assert!(!cache.insert_used(1, 2), "a second copy is not cached");
        // A second sequence uses block 1: it takes nothing more from the pool.
        assert_eq!(cache.cost_to_use(1), Some(0));
        assert_eq!(cache.use_block(1), 0);
        assert_eq!(cache.cost_to_use(3), None);
        // The first releases both: block 2 becomes evictable, block 1 is still in use.
        assert_eq!(cache.release(2), 2);
        assert_eq!(cache.release(1), 0);
        assert_eq!(cache.evictable_blocks(), 2);
        // The second releases block 1: evictable, and the newest.
        assert_eq!(cache.release(1), 2);
        assert_eq!(cache.evictable_blocks(), 4);
        assert_eq!(cache.cost_to_use(1), Some(2), "an unused cached block costs its blocks again");
        cache.evict(1); // the oldest is 2, whole
        assert!(!cache.contains(2) && cache.contains(1));
        assert_eq!(cache.evictable_blocks(), 2);
        // In use, block 1 cannot be evicted.
        assert_eq!(cache.use_block(1), 2);
        cache.evict(8);
        assert!(cache.contains(1));
        assert_eq!(cache.evictable_blocks(), 0);
        // A freed slot is reused.
        assert!(cache.insert_used(3, 1));
        assert_eq!(cache.nodes.len(), 2);
    }
}
