//! The ledger checked from outside: `datamarket ledger check --server`
//! downloads the ledger's export, verifies the whole audit log against the
//! server's signed head, and runs the books' invariants over the export
//! with every journal entry compared to the verified log's record of it.

use std::collections::HashMap;

use crate::audit::EntryRecord;
use crate::audit::verify::{Options, Problem};
use crate::trading::books::{self, CheckReport, LedgerExport, LoggedEntry};

use super::audit::{Server, verify_server_reading};

/// Checks a server's books against its verified audit log. The token must
/// be an auditor's or a regulator's.
pub async fn check_server(server: &Server, jwks: Option<&str>) -> Result<CheckReport, Problem> {
    let client = reqwest::Client::new();
    // The export first: every entry it names is then in the log's newest
    // signed head, which is read after it.
    let export: LedgerExport = server
        .get_json(&client, &server.api("/ledger/export"))
        .await?;
    let mut log: HashMap<u64, LoggedEntry> = HashMap::new();
    verify_server_reading(server, jwks, None, Options::default(), &mut |entry| {
        if let Ok(record) = serde_json::from_str::<EntryRecord>(&entry.canonical)
            && record.action == "ledger.posted"
        {
            log.insert(
                record.index,
                LoggedEntry {
                    action: record.action,
                    subject: record.subject,
                    detail: record.detail,
                },
            );
        }
    })
    .await?;
    Ok(books::check(&export, Some(&log)))
}

/// Checks an export saved from `GET /api/v1/ledger/export`: the books'
/// invariants only (an export alone cannot show what the log recorded).
pub fn check_export(text: &str) -> Result<CheckReport, Problem> {
    let export: LedgerExport = serde_json::from_str(text)
        .map_err(|e| Problem::Error(format!("not a ledger export: {e}")))?;
    Ok(books::check(&export, None))
}
