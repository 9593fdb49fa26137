//! The audit log's Merkle tree (`datamarket::audit::merkle`) on its own:
//! known-answer tests against the transparency-dev/merkle vectors, property
//! tests against a naive transcription of RFC 9162, and the edges of the
//! `u64` size range. A separate small test binary, since it needs no server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod edge_cases;
mod properties;
mod vectors;
