//! Generational identities for requests, pods and revisions.
//!
//! The simulator keeps requests and pods in slabs whose slots are reused. An id is a slot plus the slot's
//! generation at the time the thing was created; every reuse of a slot bumps its generation. An event or a
//! queue entry that outlived its request or pod therefore carries an old generation and is recognised as
//! stale instead of acting on whatever now lives in the slot (the bug behind issue 11's "answered 200 after
//! 39 s although service takes 100 s").
//!
//! Ids are plain `Copy` data, cheap to put in events. "No pod" is `Option<PodId>::None`, never a sentinel.

use std::fmt;
use std::marker::PhantomData;

/// A slot index and its generation, typed by what it identifies (`K` is a marker type).
pub struct Id<K> {
    slot: u32,
    generation: u32,
    kind: PhantomData<fn() -> K>,
}

impl<K> Id<K> {
    pub(crate) const fn new(slot: u32, generation: u32) -> Self {
        Id {
            slot,
            generation,
            kind: PhantomData,
        }
    }
    /// The slab slot (what `requests.csv` prints as `pod`; slots are reused, ids are not).
    pub const fn slot(self) -> u32 {
        self.slot
    }
    /// How many times the slot had been reused when this id was issued.
    pub const fn generation(self) -> u32 {
        self.generation
    }
    #[inline]
    pub(crate) const fn index(self) -> usize {
        self.slot as usize
    }
}

impl<K> Clone for Id<K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K> Copy for Id<K> {}
impl<K> PartialEq for Id<K> {
    fn eq(&self, other: &Self) -> bool {
        (self.slot, self.generation) == (other.slot, other.generation)
    }
}
impl<K> Eq for Id<K> {}
impl<K> PartialOrd for Id<K> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
/// Ordered by slot, then generation (the slot order stands in for Knative's pod-IP order).
impl<K> Ord for Id<K> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.slot, self.generation).cmp(&(other.slot, other.generation))
    }
}
impl<K> std::hash::Hash for Id<K> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.slot.hash(state);
        self.generation.hash(state);
    }
}
impl<K> fmt::Debug for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}v{}", self.slot, self.generation)
    }
}

/// Marker for request ids.
pub enum RequestKind {}
/// Marker for pod ids.
pub enum PodKind {}
/// Marker for revision ids.
pub enum RevisionKind {}

/// One client request, from send to response.
pub type RequestId = Id<RequestKind>;
/// One pod of a revision's deployment.
pub type PodId = Id<PodKind>;
/// One revision (a versioned service with its own pods and scaler).
pub type RevisionId = Id<RevisionKind>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_one_slot_differ_by_generation() {
        let a = PodId::new(3, 0);
        let b = PodId::new(3, 1);
        assert_ne!(a, b);
        assert_eq!(a.slot(), b.slot());
        assert!(a < b);
        assert_eq!(format!("{b:?}"), "3v1");
    }
}
