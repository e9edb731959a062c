//! tracing-subscriber layers that derive metrics and structured logs from
//! `tracing` spans and events.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod catalog;
