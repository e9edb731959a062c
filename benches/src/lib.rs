//! Benchmarks of autotel against its peers; see `benches/`.
