//! The comma-separated lists that `tracestate` and `baggage` are, kept as
//! one shared string of their members.

use std::sync::Arc;

/// Members joined with `,`, shared so that cloning is cheap; `None` when
/// there are none.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub(super) struct List(Option<Arc<str>>);

impl List {
    /// The empty list.
    pub(super) const fn new() -> Self {
        Self(None)
    }

    /// The list of `members`, joined with `,`.
    pub(super) fn join(members: &[&str]) -> Self {
        if members.is_empty() {
            Self(None)
        } else {
            Self(Some(Arc::from(members.join(","))))
        }
    }

    /// The members joined with `,`; empty when there are none.
    pub(super) fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or("")
    }

    /// Whether there are no members.
    pub(super) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The members, in order.
    pub(super) fn members(&self) -> impl Iterator<Item = &str> + '_ {
        self.0
            .as_deref()
            .into_iter()
            .flat_map(|joined| joined.split(','))
    }
}
