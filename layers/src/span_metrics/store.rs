//! Concurrent stores behind the span metrics layer: live span state, interned
//! label values and cached metric handles.
//!
//! All three keep the hot path free of heap allocation and of hashing label
//! strings once warm: live spans sit in a sharded table whose maps keep their
//! capacity, label values are interned to small integers, and metric handles
//! are found by integer keys in copy-on-write maps read without locking.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use arc_swap::ArcSwap;
use metrics::Recorder;

/// A fast, non-cryptographic hasher for small integer keys and short strings.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FastHash;

impl BuildHasher for FastHash {
    type Hasher = FastHasher;

    #[inline]
    fn build_hasher(&self) -> FastHasher {
        FastHasher(0)
    }
}

#[derive(Debug)]
pub(crate) struct FastHasher(u64);

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // splitmix64's finaliser: every output bit depends on every input bit,
        // which hashbrown needs (it uses both the top and the bottom bits).
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

const SHARD_BITS: u32 = 6;

/// Live span state, keyed by span id, in shards that each keep their own lock
/// and capacity.
pub(crate) struct SpanTable<V> {
    shards: Box<[Shard<V>]>,
}

#[repr(align(128))]
struct Shard<V> {
    len: AtomicUsize,
    map: Mutex<HashMap<u64, V, FastHash>>,
}

impl<V> SpanTable<V> {
    pub(crate) fn new() -> Self {
        let shards = (0..1 << SHARD_BITS)
            .map(|_| Shard {
                len: AtomicUsize::new(0),
                map: Mutex::new(HashMap::with_hasher(FastHash)),
            })
            .collect();
        Self { shards }
    }

    #[inline]
    fn shard(&self, id: u64) -> &Shard<V> {
        let mixed = id.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        &self.shards[(mixed >> (64 - SHARD_BITS)) as usize]
    }

    pub(crate) fn insert(&self, id: u64, value: V) {
        let shard = self.shard(id);
        let mut map = lock(&shard.map);
        map.insert(id, value);
        shard.len.store(map.len(), Ordering::Relaxed);
    }

    /// Runs `f` on the state of span `id`, when the table holds it.
    pub(crate) fn with<R>(&self, id: u64, f: impl FnOnce(&mut V) -> R) -> Option<R> {
        let shard = self.shard(id);
        if shard.len.load(Ordering::Relaxed) == 0 {
            return None;
        }
        lock(&shard.map).get_mut(&id).map(f)
    }

    pub(crate) fn remove(&self, id: u64) -> Option<V> {
        let shard = self.shard(id);
        if shard.len.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut map = lock(&shard.map);
        let value = map.remove(&id);
        shard.len.store(map.len(), Ordering::Relaxed);
        value
    }

    /// The number of spans held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.len.load(Ordering::Relaxed))
            .sum()
    }
}

const SLOT_BITS: u32 = 12;

/// The error flag in a slot's error word.
const ERROR_BIT: u64 = 1 << 32;

/// Live spans that need no more than a start time, a callsite and an error
/// state, in a fixed array of slots claimed and released without locking.
///
/// A span's slot is found from its id; when another live span holds it, the
/// span goes to a [`SpanTable`] instead. The registry reuses the ids of closed
/// spans, so a thread that opens and closes spans keeps using the same few
/// slots.
pub(crate) struct SpanSlots {
    /// Allocated with the first span, so that layers built and dropped while
    /// configuring cost nothing.
    slots: OnceLock<Box<[Slot]>>,
}

/// One slot: the id of the span that holds it (0 when free), and that span's
/// state.
#[repr(align(32))]
#[derive(Default)]
struct Slot {
    id: AtomicU64,
    start: AtomicU64,
    /// The error type (low 32 bits), the error flag ([`ERROR_BIT`]) and, above
    /// it, a tag of the holder's id, so that an update meant for a span that
    /// has since closed never lands on the next holder.
    error: AtomicU64,
    callsite: AtomicU32,
}

/// The state of a span that held a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlotSpan {
    pub(crate) start: u64,
    pub(crate) callsite: u32,
    pub(crate) error: bool,
    pub(crate) error_type: u32,
}

impl SpanSlots {
    pub(crate) fn new() -> Self {
        Self {
            slots: OnceLock::new(),
        }
    }

    /// The index of the slot of `id`.
    #[inline]
    fn index(id: u64) -> usize {
        (id.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - SLOT_BITS)) as usize
    }

    /// The slot of `id` in `slots`.
    #[inline]
    fn slot_in(slots: &[Slot], id: u64) -> Option<&Slot> {
        slots.get(Self::index(id))
    }

    /// The slot of `id`, once any span took a slot.
    #[inline]
    fn slot(&self, id: u64) -> Option<&Slot> {
        Self::slot_in(self.slots.get()?, id)
    }

    /// The tag of `id` in a slot's error word.
    #[inline]
    fn tag(id: u64) -> u64 {
        (id.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 33) << 33
    }

    /// Gives span `id` a slot holding `span`; `false` when another live span
    /// holds the slot.
    #[inline]
    pub(crate) fn claim(&self, id: u64, span: SlotSpan) -> bool {
        let slots = self
            .slots
            .get_or_init(|| (0..1 << SLOT_BITS).map(|_| Slot::default()).collect());
        let Some(slot) = Self::slot_in(slots, id) else {
            return false;
        };
        if slot.id.load(Ordering::Relaxed) != 0
            || slot
                .id
                .compare_exchange(0, id, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
        {
            return false;
        }
        // Nothing reads these before the span's id leaves `new_span`, which
        // happens after these stores.
        let error = if span.error { ERROR_BIT } else { 0 };
        slot.start.store(span.start, Ordering::Relaxed);
        slot.callsite.store(span.callsite, Ordering::Relaxed);
        slot.error.store(
            Self::tag(id) | error | u64::from(span.error_type),
            Ordering::Relaxed,
        );
        true
    }

    /// The callsite of span `id`, when it holds a slot.
    #[inline]
    pub(crate) fn callsite(&self, id: u64) -> Option<u32> {
        let slot = self.slot(id)?;
        (slot.id.load(Ordering::Relaxed) == id).then(|| slot.callsite.load(Ordering::Relaxed))
    }

    /// Marks span `id` as failed when `error`, and sets its error type unless
    /// `error_type` is [`ABSENT`]; `false` when the span holds no slot.
    pub(crate) fn record_error(&self, id: u64, error: bool, error_type: u32) -> bool {
        let Some(slot) = self
            .slot(id)
            .filter(|slot| slot.id.load(Ordering::Relaxed) == id)
        else {
            return false;
        };
        let tag = Self::tag(id);
        let mut current = slot.error.load(Ordering::Relaxed);
        loop {
            if current & !(ERROR_BIT | u64::from(u32::MAX)) != tag {
                // The span closed in the meantime and another took its slot.
                return true;
            }
            let mut next = current;
            if error {
                next |= ERROR_BIT;
            }
            if error_type != ABSENT {
                next = (next & !u64::from(u32::MAX)) | u64::from(error_type);
            }
            match slot.error.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    /// Frees the slot of span `id` and returns the span's state; `None` when
    /// the span holds no slot.
    #[inline]
    pub(crate) fn release(&self, id: u64) -> Option<SlotSpan> {
        let slot = self.slot(id)?;
        if slot.id.load(Ordering::Acquire) != id {
            return None;
        }
        let error = slot.error.load(Ordering::Relaxed);
        let span = SlotSpan {
            start: slot.start.load(Ordering::Relaxed),
            callsite: slot.callsite.load(Ordering::Relaxed),
            error: error & ERROR_BIT != 0,
            error_type: error as u32,
        };
        // Publishes the reads above before the next holder's writes.
        slot.id.store(0, Ordering::Release);
        Some(span)
    }

    /// The number of slots held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.get().map_or(0, |slots| {
            slots
                .iter()
                .filter(|slot| slot.id.load(Ordering::Relaxed) != 0)
                .count()
        })
    }
}

const FIRST_SEGMENT: usize = 32;
const SEGMENTS: usize = 26;

/// An array of cells that are each set once and read by index without
/// locking: segment `k` holds `32 << k` cells and is allocated when first
/// needed.
pub(crate) struct OnceArray<T> {
    segments: [OnceLock<Box<[OnceLock<T>]>>; SEGMENTS],
}

impl<T> OnceArray<T> {
    pub(crate) fn new() -> Self {
        Self {
            segments: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// The segment and the cell within it of `index`.
    #[inline]
    fn locate(index: usize) -> (usize, usize) {
        let n = index / FIRST_SEGMENT + 1;
        let segment = (usize::BITS - 1 - n.leading_zeros()) as usize;
        (segment, index - FIRST_SEGMENT * ((1 << segment) - 1))
    }

    /// The value at `index`, once set.
    #[inline]
    pub(crate) fn get(&self, index: usize) -> Option<&T> {
        let (segment, cell) = Self::locate(index);
        self.segments.get(segment)?.get()?.get(cell)?.get()
    }

    /// The value at `index`, set to `make()` first when unset; `None` past the
    /// array's reach.
    pub(crate) fn get_or_init(&self, index: usize, make: impl FnOnce() -> T) -> Option<&T> {
        let (segment, cell) = Self::locate(index);
        let cells = self.segments.get(segment)?.get_or_init(|| {
            (0..FIRST_SEGMENT << segment)
                .map(|_| OnceLock::new())
                .collect()
        });
        Some(cells.get(cell)?.get_or_init(make))
    }
}

/// An array that only grows, read by index without locking.
pub(crate) struct AppendOnly<T> {
    cells: OnceArray<T>,
    len: Mutex<usize>,
}

impl<T> AppendOnly<T> {
    pub(crate) fn new() -> Self {
        Self {
            cells: OnceArray::new(),
            len: Mutex::new(0),
        }
    }

    #[inline]
    pub(crate) fn get(&self, index: usize) -> Option<&T> {
        self.cells.get(index)
    }

    /// Appends `value` and returns its index.
    pub(crate) fn push(&self, value: T) -> usize {
        let mut len = lock(&self.len);
        let index = *len;
        self.cells.get_or_init(index, move || value);
        *len += 1;
        index
    }
}

/// The id given to a value that arrived after the interner was full.
pub(crate) const OVERFLOW: u32 = u32::MAX;
/// The id of "no value".
pub(crate) const ABSENT: u32 = u32::MAX - 1;

/// How many recently interned values an [`Interner`] finds without locking.
const RECENT_VALUES: usize = 64;

/// Maps label values to small integers, up to a cap; values past the cap all
/// get [`OVERFLOW`].
///
/// A value seen recently is found from its hash in a small direct-mapped
/// table of atomics and checked against the stored value, without locking;
/// other values go through a copy-on-write map.
pub(crate) struct Interner {
    ids: ArcSwap<HashMap<Arc<str>, u32, FastHash>>,
    values: AppendOnly<Arc<str>>,
    /// The top half of a value's hash and its id, by the bottom bits of the
    /// hash.
    recent: [AtomicU64; RECENT_VALUES],
    write: Mutex<()>,
    cap: usize,
}

impl Interner {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            ids: ArcSwap::from_pointee(HashMap::with_hasher(FastHash)),
            values: AppendOnly::new(),
            recent: std::array::from_fn(|_| AtomicU64::new(0)),
            write: Mutex::new(()),
            cap: cap.min(ABSENT as usize),
        }
    }

    pub(crate) fn intern(&self, value: &str) -> u32 {
        const LOW: u64 = u32::MAX as u64;
        let hash = FastHash.hash_one(value);
        let recent = &self.recent[hash as usize % RECENT_VALUES];
        let hint = recent.load(Ordering::Acquire);
        if hint & !LOW == hash & !LOW {
            let id = hint as u32;
            if self.values.get(id as usize).is_some_and(|v| **v == *value) {
                return id;
            }
        }
        let id = self.intern_slow(value);
        if id != OVERFLOW {
            recent.store((hash & !LOW) | u64::from(id), Ordering::Release);
        }
        id
    }

    fn intern_slow(&self, value: &str) -> u32 {
        if let Some(&id) = self.ids.load().get(value) {
            return id;
        }
        let _write = lock(&self.write);
        let current = self.ids.load();
        if let Some(&id) = current.get(value) {
            return id;
        }
        if current.len() >= self.cap {
            return OVERFLOW;
        }
        let value: Arc<str> = Arc::from(value);
        let id = self.values.push(Arc::clone(&value)) as u32;
        let mut next = HashMap::clone(&current);
        next.insert(value, id);
        self.ids.store(Arc::new(next));
        id
    }

    /// The value of `id`; `None` for [`ABSENT`], [`OVERFLOW`] and unknown ids.
    pub(crate) fn value(&self, id: u32) -> Option<Arc<str>> {
        self.values.get(id as usize).cloned()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ids.load().len()
    }
}

/// An address that tells recorders apart, so that handles registered with one
/// recorder are never used after another one took its place.
#[inline]
pub(crate) fn recorder_id(recorder: &dyn Recorder) -> usize {
    (recorder as *const dyn Recorder).cast::<()>() as usize
}

/// Metric handles by label-set key, registered with one recorder, up to a cap
/// on distinct keys. Reads take no lock; inserts copy the map.
pub(crate) struct SeriesCache<K, H> {
    current: ArcSwap<SeriesMap<K, H>>,
    /// Handles of own series by an index that callers derive from the key
    /// (an interned id), with the recorder and the key they belong to: found
    /// without locking when the index has always had the same key.
    by_index: OnceArray<(usize, K, H)>,
    write: Mutex<()>,
    cap: usize,
}

struct SeriesMap<K, H> {
    recorder: usize,
    series: HashMap<K, H, FastHash>,
    overflow: Option<H>,
}

impl<K, H> SeriesMap<K, H> {
    fn empty(recorder: usize) -> Self {
        Self {
            recorder,
            series: HashMap::with_hasher(FastHash),
            overflow: None,
        }
    }
}

/// Where a recording went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Series {
    /// Its own series.
    Own,
    /// The overflow series of a metric past its cap.
    Overflow,
}

impl<K, H> SeriesCache<K, H>
where
    K: Copy + Eq + Hash,
    H: Clone,
{
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            current: ArcSwap::from_pointee(SeriesMap::empty(0)),
            by_index: OnceArray::new(),
            write: Mutex::new(()),
            cap,
        }
    }

    /// [`with`](Self::with), first looking for the handles at `index`, an
    /// interned id that the key holds (below the cap, so the array stays
    /// bounded).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub(crate) fn with_index<R>(
        &self,
        recorder: &dyn Recorder,
        index: u32,
        key: K,
        overflowed: bool,
        make: impl FnOnce(&dyn Recorder) -> H,
        overflow: impl FnOnce(&dyn Recorder) -> H,
        f: impl FnOnce(&H, Series) -> R,
    ) -> R {
        let rid = recorder_id(recorder);
        let index = index as usize;
        if !overflowed
            && let Some((owner, known, handles)) = self.by_index.get(index)
            && *owner == rid
            && *known == key
        {
            return f(handles, Series::Own);
        }
        self.with(
            recorder,
            key,
            overflowed,
            make,
            overflow,
            |handles, series| {
                if series == Series::Own {
                    self.by_index
                        .get_or_init(index, || (rid, key, handles.clone()));
                }
                f(handles, series)
            },
        )
    }

    /// Runs `f` with the handles of `key` registered with `recorder`.
    ///
    /// `make` registers the handles of a new key, `overflow` those of the
    /// overflow series; `overflowed` forces the overflow series (a label value
    /// was already past its interner's cap).
    pub(crate) fn with<R>(
        &self,
        recorder: &dyn Recorder,
        key: K,
        overflowed: bool,
        make: impl FnOnce(&dyn Recorder) -> H,
        overflow: impl FnOnce(&dyn Recorder) -> H,
        f: impl FnOnce(&H, Series) -> R,
    ) -> R {
        let rid = recorder_id(recorder);
        {
            let map = self.current.load();
            if map.recorder == rid {
                if overflowed {
                    if let Some(handles) = &map.overflow {
                        return f(handles, Series::Overflow);
                    }
                } else if let Some(handles) = map.series.get(&key) {
                    return f(handles, Series::Own);
                }
            }
        }
        self.insert_slow(recorder, rid, key, overflowed, make, overflow, f)
    }

    #[cold]
    #[allow(clippy::too_many_arguments)]
    fn insert_slow<R>(
        &self,
        recorder: &dyn Recorder,
        rid: usize,
        key: K,
        overflowed: bool,
        make: impl FnOnce(&dyn Recorder) -> H,
        overflow: impl FnOnce(&dyn Recorder) -> H,
        f: impl FnOnce(&H, Series) -> R,
    ) -> R {
        let _write = lock(&self.write);
        let current = self.current.load_full();
        let mut next = if current.recorder == rid {
            SeriesMap {
                recorder: rid,
                series: current.series.clone(),
                overflow: current.overflow.clone(),
            }
        } else {
            SeriesMap::empty(rid)
        };
        let (handles, series) = if !overflowed && next.series.contains_key(&key) {
            (next.series[&key].clone(), Series::Own)
        } else if !overflowed && next.series.len() < self.cap {
            let handles = make(recorder);
            next.series.insert(key, handles.clone());
            (handles, Series::Own)
        } else {
            let handles = next
                .overflow
                .get_or_insert_with(|| overflow(recorder))
                .clone();
            (handles, Series::Overflow)
        };
        self.current.store(Arc::new(next));
        f(&handles, series)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.current.load().series.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics::{Counter, Key, Metadata, NoopRecorder};

    #[test]
    fn table_inserts_updates_and_removes() {
        let table = SpanTable::new();
        for id in 1..=1000u64 {
            table.insert(id, id * 2);
        }
        assert_eq!(table.len(), 1000);
        assert_eq!(table.with(7, |v| std::mem::replace(v, 0)), Some(14));
        assert_eq!(table.remove(7), Some(0));
        assert_eq!(table.remove(7), None);
        assert_eq!(table.with(1001, |v| *v), None);
        assert_eq!(table.len(), 999);
    }

    fn slot_span(callsite: u32) -> SlotSpan {
        SlotSpan {
            start: 100,
            callsite,
            error: false,
            error_type: ABSENT,
        }
    }

    /// `count` ids that share the slot of `id`, `id` first.
    fn sharing_a_slot(id: u64, count: usize) -> Vec<u64> {
        (id..)
            .filter(|other| SpanSlots::index(*other) == SpanSlots::index(id))
            .take(count)
            .collect()
    }

    #[test]
    fn slots_hold_one_live_span_each() {
        let slots = SpanSlots::new();
        let [first, reused] = sharing_a_slot(7, 2)[..] else {
            unreachable!()
        };
        assert!(slots.claim(first, slot_span(1)));
        assert!(!slots.claim(reused, slot_span(2)), "the slot is taken");
        assert_eq!(slots.callsite(first), Some(1));
        assert_eq!(slots.callsite(reused), None);
        assert_eq!(slots.release(reused), None);
        assert_eq!(slots.release(first), Some(slot_span(1)));
        assert_eq!(slots.release(first), None, "released once");
        assert!(slots.claim(reused, slot_span(2)));
        assert_eq!(slots.len(), 1);
    }

    #[test]
    fn slot_errors_keep_the_last_type_and_never_reach_the_next_holder() {
        let slots = SpanSlots::new();
        let [first, reused] = sharing_a_slot(9, 2)[..] else {
            unreachable!()
        };
        assert!(slots.claim(first, slot_span(1)));
        assert!(slots.record_error(first, false, 4), "a type alone");
        assert!(slots.record_error(first, true, ABSENT));
        assert!(!slots.record_error(reused, true, 5), "not the holder");
        let span = slots.release(first).unwrap();
        assert!(span.error);
        assert_eq!(span.error_type, 4);
        assert!(slots.claim(reused, slot_span(2)));
        // A late update for the closed span.
        assert!(!slots.record_error(first, true, 6));
        assert_eq!(slots.release(reused), Some(slot_span(2)));
    }

    #[test]
    fn slots_keep_every_span_under_contention() {
        let slots = SpanSlots::new();
        let table = SpanTable::new();
        // Four threads, two ids each, all for one slot.
        let ids = sharing_a_slot(3, 8);
        std::thread::scope(|scope| {
            for thread in 0..4u64 {
                let (slots, table, ids) = (&slots, &table, &ids);
                scope.spawn(move || {
                    for i in 0..50_000u64 {
                        let id = ids[(thread * 2 + i % 2) as usize];
                        let span = SlotSpan {
                            start: i,
                            callsite: thread as u32,
                            error: i % 3 == 0,
                            error_type: i as u32,
                        };
                        if !slots.claim(id, span) {
                            table.insert(id, span);
                        }
                        let back = slots.release(id).or_else(|| table.remove(id));
                        assert_eq!(back, Some(span));
                    }
                });
            }
        });
        assert_eq!(slots.len(), 0);
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn append_only_keeps_every_value_at_its_index() {
        let array = AppendOnly::new();
        for i in 0..10_000usize {
            assert_eq!(array.push(i * 3), i);
        }
        for i in 0..10_000usize {
            assert_eq!(array.get(i), Some(&(i * 3)));
        }
        assert_eq!(array.get(10_000), None);
        assert_eq!(OnceArray::<u8>::locate(31), (0, 31));
        assert_eq!(OnceArray::<u8>::locate(32), (1, 0));
        assert_eq!(OnceArray::<u8>::locate(95), (1, 63));
        assert_eq!(OnceArray::<u8>::locate(96), (2, 0));
    }

    #[test]
    fn interner_caps_distinct_values() {
        let interner = Interner::new(3);
        let a = interner.intern("a");
        assert_eq!(interner.intern("a"), a);
        assert_ne!(interner.intern("b"), a);
        interner.intern("c");
        assert_eq!(interner.intern("d"), OVERFLOW);
        assert_eq!(interner.intern("b"), 1);
        assert_eq!(interner.len(), 3);
        assert_eq!(interner.value(a).as_deref(), Some("a"));
        assert_eq!(interner.value(OVERFLOW), None);
    }

    #[test]
    fn interner_ids_stay_exact_whatever_the_recent_table_holds() {
        let interner = Interner::new(10_000);
        // Far more values than recent slots: hints are overwritten and their
        // collisions must never give one value another's id.
        let ids: Vec<u32> = (0..5_000)
            .map(|i| interner.intern(&format!("v{i}")))
            .collect();
        for round in 0..2 {
            for (i, id) in ids.iter().enumerate().rev() {
                assert_eq!(interner.intern(&format!("v{i}")), *id, "round {round}");
            }
        }
        assert_eq!(interner.value(ids[1234]).as_deref(), Some("v1234"));
        assert_eq!(interner.len(), 5_000);
    }

    /// A recorder that registers no-op handles and takes up room.
    struct Sized8 {
        _room: u64,
    }

    impl Recorder for Sized8 {
        fn describe_counter(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_gauge(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_histogram(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
            Counter::noop()
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> metrics::Gauge {
            metrics::Gauge::noop()
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> metrics::Histogram {
            metrics::Histogram::noop()
        }
    }

    #[test]
    fn series_cache_by_index_checks_recorder_and_key() {
        let cache: SeriesCache<(u32, u32), Counter> = SeriesCache::new(10);
        let meta = Metadata::new("t", metrics::Level::INFO, None);
        let made = AtomicUsize::new(0);
        let make = |r: &dyn Recorder| {
            made.fetch_add(1, Ordering::Relaxed);
            r.register_counter(&Key::from_static_name("x"), &meta)
        };
        // Two recorders at two addresses (a zero-sized one might share one).
        let recorders = [Sized8 { _room: 0 }, Sized8 { _room: 1 }];
        let (first, second): (&dyn Recorder, &dyn Recorder) = (&recorders[0], &recorders[1]);
        let outcome = |recorder: &dyn Recorder, key: (u32, u32)| {
            cache.with_index(recorder, key.1, key, false, make, make, |_, s| s)
        };
        assert_eq!(outcome(first, (0, 1)), Series::Own);
        assert_eq!(outcome(first, (0, 1)), Series::Own);
        assert_eq!(made.load(Ordering::Relaxed), 1, "registered once");
        // Another key at the same index, and another recorder: registered
        // through the map, never served the first key's handles.
        assert_eq!(outcome(first, (5, 1)), Series::Own);
        assert_eq!(made.load(Ordering::Relaxed), 2);
        assert_eq!(outcome(second, (0, 1)), Series::Own);
        assert_eq!(made.load(Ordering::Relaxed), 3);
        assert_eq!(
            cache.with_index(first, 1, (0, 1), true, make, make, |_, s| s),
            Series::Overflow
        );
    }

    #[test]
    fn series_cache_caps_and_overflows() {
        let cache: SeriesCache<u32, Counter> = SeriesCache::new(2);
        let recorder = NoopRecorder;
        let meta = Metadata::new("t", metrics::Level::INFO, None);
        let make = |r: &dyn Recorder| r.register_counter(&Key::from_static_name("x"), &meta);
        let outcomes: Vec<Series> = (0..4)
            .map(|k| cache.with(&recorder, k, false, make, make, |_, series| series))
            .collect();
        assert_eq!(
            outcomes,
            [Series::Own, Series::Own, Series::Overflow, Series::Overflow]
        );
        assert_eq!(
            cache.with(&recorder, 1, false, make, make, |_, s| s),
            Series::Own
        );
        assert_eq!(
            cache.with(&recorder, 1, true, make, make, |_, s| s),
            Series::Overflow
        );
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn hasher_spreads_small_integers() {
        let hashes: std::collections::HashSet<u64> =
            (0..10_000u32).map(|i| FastHash.hash_one(i) >> 57).collect();
        assert_eq!(hashes.len(), 128, "the top seven bits take every value");
    }
}
