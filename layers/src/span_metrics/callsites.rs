//! What the span metrics layer learns about each callsite, once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use arc_swap::ArcSwap;
use tracing_core::Metadata;

use super::fields::{Role, RoleKind};
use super::layer::Config;
use super::record::SpanHandles;
use super::switch::CachedDecision;
use crate::internal::append_only::AppendOnly;
use crate::internal::callsite_cache::{CallsiteCells, callsite_address};
use crate::internal::hash::FastHash;
use crate::internal::lock;

/// What the layer learned about one callsite when it first saw it.
pub(super) struct Callsite {
    pub(super) name: &'static str,
    pub(super) tracked: bool,
    pub(super) roles: Box<[Role]>,
    pub(super) any_role: bool,
    /// No field names a pipeline or a step or feeds a dimension, so that the
    /// callsite's spans fit in a slot of the per-span slot array.
    pub(super) slotted: bool,
    pub(super) decision: CachedDecision,
    /// The handles of the callsite's two label sets (`ok`, `error`) when the
    /// layer has no dimensions, registered with the first recorder that
    /// recorded them. Label sets that come from callsites are bounded by the
    /// program's code, so they sit outside the series cap.
    pub(super) handles: OnceLock<CallsiteHandles>,
}

pub(super) struct CallsiteHandles {
    pub(super) recorder: usize,
    pub(super) ok: SpanHandles,
    pub(super) error: SpanHandles,
}

/// Every callsite seen: an index by metadata address, read without locking,
/// and the callsites themselves in an append-only array read by index.
pub(super) struct Callsites {
    /// Tells this index apart from every other in the per-thread cache.
    pub(super) id: u64,
    pub(super) by_address: ArcSwap<HashMap<usize, u32, FastHash>>,
    pub(super) sites: AppendOnly<Callsite>,
    pub(super) write: Mutex<()>,
}

impl Callsites {
    pub(super) fn new() -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            by_address: ArcSwap::from_pointee(HashMap::with_hasher(FastHash)),
            sites: AppendOnly::new(),
            write: Mutex::new(()),
        }
    }

    /// Runs `f` with the index and facts of the callsite of `metadata`,
    /// registering it first when it is new.
    #[inline]
    pub(super) fn with<R>(
        &self,
        metadata: &'static Metadata<'static>,
        config: &Config,
        f: impl FnOnce(u32, &Callsite) -> R,
    ) -> Option<R> {
        let address = callsite_address(metadata);
        let index = match recent(self.id, address) {
            Some(index) => index,
            None => {
                let known = self.by_address.load().get(&address).copied();
                let index = known.unwrap_or_else(|| self.register(metadata, config));
                remember(self.id, address, index);
                index
            }
        };
        // Registration stores a site before it publishes its index, so the
        // site is always there.
        self.get(index).map(|site| f(index, site))
    }

    #[inline]
    pub(super) fn get(&self, index: u32) -> Option<&Callsite> {
        self.sites.get(index as usize)
    }

    #[cold]
    pub(super) fn register(&self, metadata: &'static Metadata<'static>, config: &Config) -> u32 {
        let address = callsite_address(metadata);
        let _write = lock(&self.write);
        let current = self.by_address.load_full();
        if let Some(&index) = current.get(&address) {
            return index;
        }
        let roles: Box<[Role]> = metadata
            .fields()
            .iter()
            .map(|field| Role::for_field(field.name(), &config.dimensions))
            .collect();
        let site = Callsite {
            name: metadata.name(),
            tracked: metadata.is_span() && config.tracks(metadata),
            any_role: roles
                .iter()
                .any(|role| role.kind != RoleKind::None || role.dim.is_some()),
            slotted: roles.iter().all(|role| {
                role.dim.is_none()
                    && !matches!(role.kind, RoleKind::PipelineName | RoleKind::StepName)
            }),
            roles,
            decision: CachedDecision::new(),
            handles: OnceLock::new(),
        };
        let index = self.sites.push(site) as u32;
        let mut next = HashMap::clone(&current);
        next.insert(address, index);
        self.by_address.store(Arc::new(next));
        index
    }
}

thread_local! {
    /// Recently seen callsites' indexes, by index owner and metadata
    /// address, so that a span of a known callsite finds its index without
    /// touching shared memory.
    static RECENT: CallsiteCells<u32, 64> = const { CallsiteCells::new() };
}

/// The index of the callsite at `address` in the index `owner`, when this
/// thread saw it recently.
#[inline]
fn recent(owner: u64, address: usize) -> Option<u32> {
    RECENT
        .try_with(|recent| recent.get(owner, address))
        .ok()
        .flatten()
}

#[inline]
fn remember(owner: u64, address: usize, index: u32) {
    let _ = RECENT.try_with(|recent| recent.put(owner, address, index));
}
