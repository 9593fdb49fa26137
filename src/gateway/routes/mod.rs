//! The API's table of contents: every route, by resource.

pub mod accounts;
pub mod audit;
pub mod catalog;
pub mod dataspace;
pub mod events;
pub mod grants;
pub mod rights;
pub mod supervision;
pub mod system;
pub mod trading;

use utoipa_actix_web::service_config::ServiceConfig;

/// Routes that appear in the OpenAPI document.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(system::health)
        .service(system::ready)
        .service(system::jwks)
        .service(system::problem_type)
        .service(system::metrics)
        .service(dataspace::version)
        .service(
            utoipa_actix_web::scope("/dsp")
                .service(dataspace::catalog_request)
                .service(dataspace::catalog_dataset)
                .service(dataspace::negotiation_request)
                .service(dataspace::negotiation)
                .service(dataspace::negotiation_counter_request)
                .service(dataspace::negotiation_event)
                .service(dataspace::negotiation_verification)
                .service(dataspace::negotiation_termination)
                .service(dataspace::transfer_request)
                .service(dataspace::transfer)
                .service(dataspace::transfer_start)
                .service(dataspace::transfer_completion)
                .service(dataspace::transfer_termination)
                .service(dataspace::transfer_suspension),
        )
        .service(
            // actix matches a scope's routes in this order, each dynamic one
            // by a regular expression: the busiest come first.
            utoipa_actix_web::scope("/api/v1")
                .service(catalog::download)
                .service(catalog::get)
                .service(catalog::search)
                .service(accounts::register)
                .service(accounts::admin_create)
                .service(accounts::token)
                .service(accounts::me)
                .service(accounts::get)
                .service(accounts::suspend)
                .service(accounts::reinstate)
                .service(accounts::verify)
                .service(accounts::set_jurisdiction)
                .service(catalog::create)
                .service(catalog::update)
                .service(catalog::add_version)
                .service(catalog::versions)
                .service(catalog::review_version)
                .service(catalog::publish)
                .service(catalog::review)
                .service(catalog::delist)
                .service(catalog::dcat_catalog)
                .service(rights::of_dataset)
                .service(rights::transfer)
                .service(rights::certificate_of)
                .service(rights::certificate_status)
                .service(rights::lineage)
                .service(rights::provenance_of)
                .service(grants::create_request)
                .service(grants::list_requests)
                .service(grants::get_request)
                .service(grants::approve)
                .service(grants::reject)
                .service(grants::withdraw)
                .service(grants::review)
                .service(grants::list_grants)
                .service(grants::get_grant)
                .service(grants::policy)
                .service(grants::revoke)
                .service(grants::data_token)
                .service(trading::place_order)
                .service(trading::list_orders)
                .service(trading::get_order)
                .service(trading::cancel_order)
                .service(trading::renew_order)
                .service(trading::create_offer)
                .service(trading::offers_of_dataset)
                .service(trading::get_offer)
                .service(trading::revise_offer)
                .service(trading::withdraw_offer)
                .service(trading::wallet)
                .service(trading::statement)
                .service(trading::payment_callback)
                .service(trading::request_payout)
                .service(trading::list_payouts)
                .service(trading::approve_payout)
                .service(trading::reject_payout)
                .service(trading::trial_balance)
                .service(trading::ledger_export)
                .service(trading::ledger_check)
                .service(supervision::freeze)
                .service(supervision::freezes)
                .service(supervision::lift)
                .service(supervision::record_incident)
                .service(supervision::incidents)
                .service(supervision::inbox)
                .service(supervision::mark_read)
                .service(supervision::market_statistics)
                .service(supervision::compliance_record)
                .service(supervision::file_complaint)
                .service(supervision::list_complaints)
                .service(supervision::get_complaint)
                .service(supervision::decide_complaint)
                .service(supervision::list_alerts)
                .service(supervision::get_alert)
                .service(supervision::acknowledge_alert)
                .service(supervision::resolve_alert)
                .service(supervision::listings_to_review)
                .service(supervision::requests_to_review)
                .service(events::register)
                .service(events::list)
                .service(events::get)
                .service(events::remove)
                .service(events::deliveries)
                .service(events::redeliver)
                .service(events::list_events)
                .service(events::event_stream)
                .service(audit::entries)
                .service(audit::checkpoint)
                .service(audit::witnessed_checkpoint)
                .service(audit::tree_heads)
                .service(audit::inclusion)
                .service(audit::consistency),
        );
}

/// The browser UI over the served document.
pub fn swagger_ui() -> utoipa_swagger_ui::SwaggerUi {
    utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}")
        .config(utoipa_swagger_ui::Config::from("/api/v1/openapi.json"))
}
