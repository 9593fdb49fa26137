//! Integration tests: the real server over HTTP, on SQLite and (when
//! DATABASE_URL names it) PostgreSQL. One test binary keeps link time down.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod accounts;
mod audit_log;
mod audit_trail;
mod authorization;
mod backup;
mod caching;
mod catalog;
mod cli;
mod crash;
mod cross_border;
mod dataspace;
mod dcat;
mod early_warning;
mod events;
mod gateway;
mod grants;
mod large_upload;
mod migrations;
mod portal;
mod races;
mod rights;
mod safeguards;
mod scale_out;
mod supervision;
mod trading;
mod witness;
