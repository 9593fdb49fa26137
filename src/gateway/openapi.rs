//! The OpenAPI document, generated from the handlers' annotations.

use actix_web::App;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "datamarket",
        description = "A data-element marketplace: listings, property rights, licensed access and a verifiable audit log. Errors are RFC 9457 problem documents whose `type` is `/problems/<slug>`.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    paths(super::routes::system::openapi_json, super::routes::system::swagger_ui_document),
    // Types only query parameters refer to, which no body would register.
    components(schemas(
        crate::domain::Classification,
        crate::catalog::lineage::Direction,
        crate::grants::RequestRole,
        crate::grants::RequestState,
        crate::grants::GrantRole,
        crate::trading::OrderRole,
    )),
    tags(
        (name = "system", description = "Health, keys and problem types"),
        (name = "accounts", description = "Accounts and access tokens"),
        (name = "catalog", description = "Listings, versions and payloads"),
        (name = "rights", description = "Property rights, certificates, lineage and provenance"),
        (name = "grants", description = "Access requests, grants, data tokens"),
        (name = "trading", description = "Offers, orders, wallets, payments, payouts, statements and the ledger"),
        (name = "supervision", description = "Freezes, incidents along lineage, complaints, and each account's inbox"),
        (name = "events", description = "Webhooks signed per Standard Webhooks, their delivery logs, and the event feed and stream (Server-Sent Events)"),
        (name = "dataspace", description = "The Dataspace Protocol (2025-1) as provider: catalog, contract negotiations, transfer processes (JSON-LD)"),
        (name = "audit", description = "The verifiable audit log: entries, signed tree heads (C2SP checkpoints), inclusion and consistency proofs"),
    )
)]
struct ApiDoc;

struct BearerAuth;

/// Payload bytes of any media type: an opaque binary string, not a JSON
/// array of numbers, which is what `Vec<u8>` would document.
pub struct Binary;

impl utoipa::PartialSchema for Binary {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl utoipa::ToSchema for Binary {}

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document as served: the bounds that come from configuration (page
/// sizes, lineage depth) set to this server's values.
pub fn document_for(settings: &crate::config::Settings) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::Schema;
    let mut api = document();
    let bound = |name: &str| match name {
        "limit" => Some(settings.limits.page_size_max as usize),
        "depth" => Some(settings.lineage.max_depth as usize),
        _ => None,
    };
    for item in api.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            for parameter in operation.parameters.iter_mut().flatten() {
                if let (Some(max), Some(RefOr::T(Schema::Object(schema)))) =
                    (bound(&parameter.name), parameter.schema.as_mut())
                {
                    schema.maximum = Some(utoipa::Number::UInt(max));
                }
            }
        }
    }
    api
}

/// The document of every route the gateway registers through
/// `routes::configure`, which is also what the server runs.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, api) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(super::routes::configure)
        .split_for_parts();
    api
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contract as a reviewed file: a change to any endpoint, schema or
    /// status shows as a diff of `snapshots/…openapi_document.snap`. After a
    /// deliberate change: `INSTA_UPDATE=always cargo test --lib openapi`,
    /// then review the diff.
    #[test]
    fn openapi_document() {
        insta::assert_json_snapshot!(document());
    }

    #[test]
    fn configured_bounds_are_the_documented_ones() {
        let mut settings = crate::config::Settings::defaults().unwrap();
        settings.limits.page_size_max = 500;
        settings.lineage.max_depth = 42;
        let api = serde_json::to_value(document_for(&settings)).unwrap();
        let param = |path: &str, name: &str| {
            api["paths"][path]["get"]["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .unwrap()["schema"]
                .clone()
        };
        assert_eq!(param("/api/v1/datasets", "limit")["maximum"], 500);
        assert_eq!(param("/api/v1/audit/entries", "limit")["maximum"], 500);
        assert_eq!(
            param("/api/v1/datasets/{id}/lineage", "depth")["maximum"],
            42
        );
    }
}
