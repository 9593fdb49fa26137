//! datamarket: a data-element marketplace. Providers list datasets and
//! register their property rights, consumers obtain licensed access, and
//! regulators and auditors verify every transaction against a tamper-evident
//! log. See docs/architecture.md for the map.

pub mod access;
pub mod accounts;
pub mod audit;
pub mod backup;
pub mod catalog;
pub mod client;
pub mod config;
pub mod dataspace;
pub mod domain;
pub mod error;
pub mod events;
pub mod gateway;
pub mod grants;
pub mod keys;
pub mod market;
pub mod objects;
pub mod page;
pub mod rights;
pub mod store;
pub mod supervision;
pub mod tokens;
pub mod trading;
pub mod witness;

pub use market::Market;
