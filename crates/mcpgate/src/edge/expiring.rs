//! A bounded map whose entries lapse at their own instant: what the edge remembers for a short
//! while (verified JWTs, clients over their anonymous limit). Nothing a caller sends can grow it
//! past its bound: when full, lapsed entries go, and if it is still full, everything goes.
//! Instants are tokio's, so tests can run lapses under paused time.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{PoisonError, RwLock};

use tokio::time::Instant;

/// Entries that lapse, at most `max` of them.
pub(crate) struct Expiring<K, V> {
    entries: RwLock<HashMap<K, (V, Instant)>>,
    max: usize,
}

impl<K, V> std::fmt::Debug for Expiring<K, V> {
    /// The count only: entries may be credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = self
            .entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("Expiring").field("entries", &len).finish()
    }
}

impl<K: Eq + Hash, V: Clone> Expiring<K, V> {
    /// An empty map of at most `max` entries.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            max,
        }
    }

    /// The value of `key` and when it lapses, unless it has lapsed.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<(V, Instant)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(key)
            .filter(|(_, until)| *until > Instant::now())
            .cloned()
    }

    /// Remember `value` for `key` until `until`.
    pub(crate) fn insert(&self, key: K, value: V, until: Instant) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.max {
            let now = Instant::now();
            entries.retain(|_, (_, until)| *until > now);
            if entries.len() >= self.max {
                entries.clear();
            }
        }
        entries.insert(key, (value, until));
    }

    /// How many entries are held (lapsed ones included until they are swept).
    pub(crate) fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn entries_lapse_and_the_map_stays_bounded() {
        let map: Expiring<Box<str>, u32> = Expiring::new(100);
        let later = Instant::now() + Duration::from_secs(60);
        map.insert("a.b.c".into(), 1, later);
        assert_eq!(map.get("a.b.c"), Some((1, later)));
        map.insert("lapsed".into(), 2, Instant::now());
        assert_eq!(map.get("lapsed"), None, "expired");
        assert_eq!(map.get("a.b.d"), None, "never inserted");
        for i in 0..105 {
            map.insert(format!("key-{i}").into(), 3, later);
        }
        assert!((1..=100).contains(&map.len()), "{}", map.len());
    }
}
