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
        crate::rights::provenance::Direction,
        crate::grants::RequestRole,
        crate::grants::RequestState,
        crate::grants::GrantRole,
    )),
    tags(
        (name = "system", description = "Health, keys and problem types"),
        (name = "accounts", description = "Accounts and access tokens"),
        (name = "catalog", description = "Listings, versions and payloads"),
        (name = "rights", description = "Property rights, certificates, lineage and provenance"),
        (name = "grants", description = "Access requests, grants, data tokens"),
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
