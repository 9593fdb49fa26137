//! The Dataspace Protocol's outgoing half: every instance runs one sender,
//! which brings negotiations up to date with their access requests, claims
//! the messages due to consumers' callback addresses one at a time, just
//! before sending each (a lease by conditional update, so instances sharing
//! a database never send one twice at once), commits the state each announces, POSTs it, and marks it
//! sent, or failed for a later retry with backoff.

use std::time::Duration;

use crate::dataspace::{self, Due};
use crate::market::Market;

/// How often the sender looks for work.
const TICK: Duration = Duration::from_millis(300);
/// Every how many ticks open negotiations are compared with their requests.
const ADVANCE_EVERY: u32 = 3;
/// At most how many callbacks one tick sends.
const PER_TICK: usize = 20;
/// How long one callback may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts the sender; it runs until aborted.
pub fn spawn(market: Market) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = match crate::events::target::client(
            market.settings.events.allow_private_targets,
            concat!("datamarket-dataspace/", env!("CARGO_PKG_VERSION")),
        ) {
            Ok(client) => client,
            Err(e) => {
                tracing::error!(error = %e, "the Dataspace Protocol sender cannot start");
                return;
            }
        };
        let mut ticker = tokio::time::interval(TICK);
        let mut round: u32 = 0;
        loop {
            ticker.tick().await;
            round = round.wrapping_add(1);
            if round.is_multiple_of(ADVANCE_EVERY)
                && let Err(e) = dataspace::negotiations::advance(&market, 100).await
            {
                tracing::warn!(error = %e, "dataspace: advancing negotiations failed");
            }
            // Each message is claimed just before it is sent, so no lease
            // runs out while earlier ones of the round are being sent.
            for _ in 0..PER_TICK {
                match dataspace::callbacks::claim_next(&market).await {
                    Ok(Some(message)) => deliver(&market, &client, message).await,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "dataspace: claiming a callback failed");
                        break;
                    }
                }
            }
        }
    })
}

async fn deliver(market: &Market, client: &reqwest::Client, due: Due) {
    let body = match dataspace::callbacks::prepare(market, &due).await {
        Ok(Some(body)) => body,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, callback = %due.id, "dataspace: preparing a callback failed");
            let _ = dataspace::callbacks::failed(market, &due, e.to_string()).await;
            return;
        }
    };
    // Refused on arrival too; checked again, as the rule may have changed.
    if let Err(why) = crate::events::target::check_url(
        &due.url,
        "callbackAddress",
        market.settings.events.allow_private_targets,
    ) {
        if let Err(e) = dataspace::callbacks::failed(market, &due, why.to_string()).await {
            tracing::warn!(error = %e, callback = %due.id, "dataspace: recording a callback failed");
        }
        return;
    }
    let outcome = client
        .post(&due.url)
        .timeout(SEND_TIMEOUT)
        .json(&body)
        .send()
        .await;
    let result = match outcome {
        Ok(response) if response.status().is_success() => {
            dataspace::callbacks::sent(market, &due).await
        }
        Ok(response) => {
            let status = response.status();
            dataspace::callbacks::failed(market, &due, format!("answered {status}")).await
        }
        Err(e) => dataspace::callbacks::failed(market, &due, e.to_string()).await,
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, callback = %due.id, "dataspace: recording a callback failed");
    }
}
