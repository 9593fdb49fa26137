//! Licensed access: a consumer asks ([`requests`]), the holder (or the
//! broker holding the operation right) decides, a regulator reviews what
//! the law says must be reviewed ([`cross_border`]), and approval creates
//! a grant ([`licences`]) whose policy ([`policy`]) every delivery
//! ([`delivery`]) is checked against. The [`sweeper`] expires what nobody decided in time.
//!
//! The service owns `access_requests` and `grants`; what a grant means for
//! who may see or process a dataset it records in the rule book's register.

pub mod cross_border;
pub mod delivery;
pub mod licences;
pub mod policy;
pub mod purchases;
pub mod requests;
mod rows;
pub mod sweeper;
pub mod tally;
pub mod types;

pub use licences::{get_grant, issue_data_token, list_grants, odrl_policy, revoke};
pub use purchases::{NewOrder, cancel_order, place_order, renew_order};
pub use requests::{
    CheckedRequest, approve, check_request, create_request, create_request_in, get_request,
    list_requests, reject, review, review_queue, withdraw, withdraw_request_in,
};
pub use sweeper::{spawn_sweeper, sweep_grants, sweep_requests};
pub use types::{
    AccessRequest, ApproveInput, DataToken, DataTokenInput, Grant, GrantPage, GrantRole,
    GrantStatus, LegalBasis, NewRequest, Policy, PolicyOverride, ReasonInput, RequestPage,
    RequestReviewInput, RequestRole, RequestState, Verdict,
};
