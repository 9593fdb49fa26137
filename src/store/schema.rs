//! The portable schema: only the SQL types both backends share (text for
//! identifiers and JSON, `Timestamp` for UTC instants). Columns the services
//! never touch through diesel (SQLite's `datasets.seq`) are left out.

diesel::table! {
    accounts (id) {
        id -> Text,
        name -> Text,
        password_hash -> Text,
        roles -> Text,
        display_name -> Nullable<Text>,
        organization -> Nullable<Text>,
        created_at -> Timestamp,
        name_key -> Nullable<Text>,
        territory -> Nullable<Text>,
        status -> Text,
        suspended_at -> Nullable<Timestamp>,
        suspended_by -> Nullable<Text>,
        suspension_reason -> Nullable<Text>,
        entity_type -> Text,
        credit_code -> Nullable<Text>,
        verified_at -> Nullable<Timestamp>,
        verified_by -> Nullable<Text>,
        verification_reference -> Nullable<Text>,
        region -> Nullable<Text>,
        jurisdiction -> Nullable<Text>,
    }
}

diesel::table! {
    datasets (id) {
        id -> Text,
        provider_id -> Text,
        title -> Text,
        description -> Text,
        tags -> Text,
        classification -> Text,
        personal_data -> Bool,
        license -> Text,
        price_amount -> BigInt,
        price_currency -> Text,
        status -> Text,
        review_reason -> Nullable<Text>,
        reviewed_by -> Nullable<Text>,
        reviewed_at -> Nullable<Timestamp>,
        latest_version -> Integer,
        search_text -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        listed_at -> Nullable<Timestamp>,
        reviewed_classification -> Nullable<Text>,
        inherited_classification -> Nullable<Text>,
        inherited_personal_data -> Bool,
        sector -> Nullable<Text>,
    }
}

diesel::table! {
    dataset_tags (dataset_id, tag) {
        dataset_id -> Text,
        tag -> Text,
    }
}

diesel::table! {
    dataset_versions (dataset_id, number) {
        dataset_id -> Text,
        number -> Integer,
        media_type -> Text,
        size -> BigInt,
        sha256 -> Text,
        object_key -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        status -> Text,
        reviewed_by -> Nullable<Text>,
        reviewed_at -> Nullable<Timestamp>,
        review_reason -> Nullable<Text>,
    }
}

diesel::table! {
    audit_entries (idx) {
        idx -> BigInt,
        created_at -> Timestamp,
        actor_id -> Nullable<Text>,
        action -> Text,
        dataset_id -> Nullable<Text>,
        subject -> Text,
        canonical -> Text,
        leaf_hash -> Binary,
    }
}

diesel::table! {
    audit_entry_parties (account_id, idx) {
        account_id -> Text,
        idx -> BigInt,
    }
}

diesel::table! {
    audit_log_head (id) {
        id -> Integer,
        size -> BigInt,
    }
}

diesel::table! {
    audit_tree_nodes (level, node_index) {
        level -> Integer,
        node_index -> BigInt,
        hash -> Binary,
    }
}

diesel::table! {
    audit_tree_heads (tree_size) {
        tree_size -> BigInt,
        root_hash -> Binary,
        signed_at -> Timestamp,
        kid -> Text,
        signature -> Binary,
        checkpoint -> Text,
    }
}

diesel::table! {
    audit_cosignatures (witness, tree_size) {
        witness -> Text,
        tree_size -> BigInt,
        cosigned_at -> BigInt,
        line -> Text,
        received_at -> Timestamp,
    }
}

diesel::joinable!(dataset_tags -> datasets (dataset_id));
diesel::joinable!(dataset_versions -> datasets (dataset_id));

diesel::allow_tables_to_appear_in_same_query!(
    accounts,
    datasets,
    dataset_tags,
    dataset_versions,
    audit_entries,
    audit_entry_parties,
    audit_log_head,
    audit_tree_nodes,
    audit_tree_heads,
);

diesel::table! {
    rights (id) {
        id -> Text,
        dataset_id -> Text,
        kind -> Text,
        holder_id -> Text,
        origin -> Text,
        granted_by -> Nullable<Text>,
        note -> Nullable<Text>,
        since -> Timestamp,
        until -> Nullable<Timestamp>,
        ended_at -> Nullable<Timestamp>,
        ended_by -> Nullable<Text>,
    }
}

diesel::table! {
    rights_certificates (id) {
        id -> Text,
        right_id -> Text,
        jws -> Text,
        issued_at -> Timestamp,
        superseded_at -> Nullable<Timestamp>,
        superseded_by -> Nullable<Text>,
    }
}

diesel::table! {
    derivations (id) {
        id -> Text,
        dataset_id -> Text,
        name -> Text,
        description -> Text,
        agent_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    dataset_sources (derivation_id, source_id) {
        derivation_id -> Text,
        dataset_id -> Text,
        source_id -> Text,
        source_version -> Integer,
        royalty_bps -> Integer,
    }
}

diesel::joinable!(rights_certificates -> rights (right_id));

diesel::allow_tables_to_appear_in_same_query!(
    rights,
    rights_certificates,
    derivations,
    dataset_sources,
);

diesel::table! {
    access_requests (id) {
        id -> Text,
        dataset_id -> Text,
        consumer_id -> Text,
        purpose -> Text,
        duration_days -> Integer,
        max_downloads -> Integer,
        processing -> Bool,
        cross_border -> Bool,
        destination_country -> Nullable<Text>,
        message -> Nullable<Text>,
        state -> Text,
        requires_review -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        expires_at -> Timestamp,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        decision_reason -> Nullable<Text>,
        policy -> Nullable<Text>,
        reviewed_by -> Nullable<Text>,
        reviewed_at -> Nullable<Timestamp>,
        review_reason -> Nullable<Text>,
        grant_id -> Nullable<Text>,
        order_id -> Nullable<Text>,
        legal_basis -> Nullable<Text>,
        personal_information_subjects -> Nullable<BigInt>,
        assessment_reference -> Nullable<Text>,
        assessment_expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    grants (id) {
        id -> Text,
        request_id -> Text,
        dataset_id -> Text,
        version -> Nullable<Integer>,
        licensor_id -> Text,
        licensee_id -> Text,
        purposes -> Text,
        not_before -> Timestamp,
        not_after -> Timestamp,
        max_downloads -> Integer,
        downloads_used -> Integer,
        territory -> Text,
        processing -> Bool,
        status -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        revoked_by -> Nullable<Text>,
        revoke_reason -> Nullable<Text>,
        order_id -> Nullable<Text>,
        expiry_noticed_at -> Nullable<Timestamp>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(access_requests, grants, rights);

diesel::table! {
    licences (grant_id) {
        grant_id -> Text,
        dataset_id -> Text,
        licensee_id -> Text,
        processing -> Bool,
        not_before -> Timestamp,
        not_after -> Timestamp,
        ended_at -> Nullable<Timestamp>,
        royalty_bps -> Integer,
    }
}

diesel::table! {
    login_failures (key) {
        key -> Text,
        failures -> Integer,
        window_start -> Timestamp,
        blocked_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    login_known_clients (account_id, address) {
        account_id -> Text,
        address -> Text,
        last_success -> Timestamp,
    }
}

diesel::table! {
    offers (id) {
        id -> Text,
        dataset_id -> Text,
        version -> Integer,
        status -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    offer_versions (offer_id, version) {
        offer_id -> Text,
        version -> Integer,
        plan -> Text,
        covers -> Text,
        amount -> BigInt,
        currency -> Text,
        period_days -> Nullable<Integer>,
        term_days -> Integer,
        max_downloads -> Integer,
        purposes -> Text,
        processing -> Bool,
        territory -> Text,
        royalty_bps -> Integer,
        instant -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    orders (id) {
        id -> Text,
        offer_id -> Text,
        offer_version -> Integer,
        dataset_id -> Text,
        buyer_id -> Text,
        seller_id -> Text,
        amount -> BigInt,
        currency -> Text,
        state -> Text,
        request_id -> Nullable<Text>,
        grant_id -> Nullable<Text>,
        renewal_of -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    ledger_balances (account, currency) {
        account -> Text,
        currency -> Text,
        balance -> BigInt,
    }
}

diesel::table! {
    journal_entries (id) {
        id -> Text,
        kind -> Text,
        order_id -> Nullable<Text>,
        reference -> Nullable<Text>,
        created_at -> Timestamp,
        audit_index -> BigInt,
    }
}

diesel::table! {
    postings (journal_id, line) {
        journal_id -> Text,
        line -> Integer,
        account -> Text,
        currency -> Text,
        amount -> BigInt,
        memo -> Nullable<Text>,
    }
}

diesel::table! {
    payments (payment_id) {
        payment_id -> Text,
        account_id -> Text,
        amount -> BigInt,
        currency -> Text,
        journal_id -> Text,
        received_at -> Timestamp,
    }
}

diesel::table! {
    payouts (id) {
        id -> Text,
        account_id -> Text,
        amount -> BigInt,
        currency -> Text,
        state -> Text,
        created_at -> Timestamp,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        reason -> Nullable<Text>,
    }
}

diesel::table! {
    idempotency_keys (account_id, key) {
        account_id -> Text,
        key -> Text,
        request_hash -> Text,
        status -> Integer,
        response -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(postings -> journal_entries (journal_id));
diesel::allow_tables_to_appear_in_same_query!(
    postings,
    journal_entries,
    orders,
    offers,
    offer_versions
);

diesel::table! {
    freezes (id) {
        id -> Text,
        scope -> Text,
        target -> Text,
        reason -> Text,
        frozen_by -> Text,
        frozen_at -> Timestamp,
        lifted_by -> Nullable<Text>,
        lifted_at -> Nullable<Timestamp>,
        lift_reason -> Nullable<Text>,
    }
}

diesel::table! {
    incidents (id) {
        id -> Text,
        dataset_id -> Text,
        kind -> Text,
        description -> Text,
        reported_by -> Text,
        reported_at -> Timestamp,
        datasets_reached -> Integer,
        accounts_notified -> Integer,
    }
}

diesel::table! {
    complaints (id) {
        id -> Text,
        complainant_id -> Text,
        subject_kind -> Text,
        subject_id -> Text,
        respondent_id -> Text,
        dataset_id -> Nullable<Text>,
        description -> Text,
        state -> Text,
        filed_at -> Timestamp,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        outcome -> Nullable<Text>,
    }
}

diesel::table! {
    inbox_messages (id) {
        id -> Text,
        account_id -> Text,
        kind -> Text,
        incident_id -> Nullable<Text>,
        complaint_id -> Nullable<Text>,
        dataset_id -> Nullable<Text>,
        concerns -> Text,
        body -> Text,
        created_at -> Timestamp,
        read_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    alerts (id) {
        id -> Text,
        rule -> Text,
        subject_kind -> Text,
        subject -> Text,
        account_id -> Nullable<Text>,
        dataset_id -> Nullable<Text>,
        region -> Nullable<Text>,
        sector -> Nullable<Text>,
        summary -> Text,
        evidence -> Text,
        state -> Text,
        raised_at -> Timestamp,
        acknowledged_by -> Nullable<Text>,
        acknowledged_at -> Nullable<Timestamp>,
        resolved_by -> Nullable<Text>,
        resolved_at -> Nullable<Timestamp>,
        outcome -> Nullable<Text>,
        note -> Nullable<Text>,
    }
}

diesel::table! {
    alert_watch (id) {
        id -> Integer,
        position -> BigInt,
    }
}

diesel::table! {
    webhook_subscriptions (id) {
        id -> Text,
        account_id -> Text,
        url -> Text,
        event_types -> Text,
        secret -> Text,
        state -> Text,
        created_at -> Timestamp,
        removed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        subscription_id -> Text,
        event_index -> BigInt,
        event_type -> Text,
        as_news -> Bool,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        lease_until -> Nullable<Timestamp>,
        last_status -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        delivered_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    webhook_attempts (delivery_id, attempt) {
        delivery_id -> Text,
        attempt -> Integer,
        attempted_at -> Timestamp,
        status -> Nullable<Integer>,
        error -> Nullable<Text>,
        duration_ms -> BigInt,
    }
}

diesel::table! {
    event_dispatch (id) {
        id -> Integer,
        position -> BigInt,
    }
}

diesel::joinable!(webhook_deliveries -> webhook_subscriptions (subscription_id));
diesel::allow_tables_to_appear_in_same_query!(webhook_deliveries, webhook_subscriptions);

diesel::allow_tables_to_appear_in_same_query!(access_requests, datasets);
diesel::allow_tables_to_appear_in_same_query!(complaints, accounts);
diesel::allow_tables_to_appear_in_same_query!(complaints, datasets);
diesel::allow_tables_to_appear_in_same_query!(access_requests, accounts);
diesel::allow_tables_to_appear_in_same_query!(datasets, rights);

diesel::table! {
    dsp_negotiations (id) {
        id -> Text,
        consumer_pid -> Text,
        consumer_id -> Text,
        dataset_id -> Text,
        offer_id -> Text,
        callback_address -> Text,
        request_id -> Text,
        agreement_id -> Nullable<Text>,
        state -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    dsp_transfers (id) {
        id -> Text,
        consumer_pid -> Text,
        consumer_id -> Text,
        agreement_id -> Text,
        dataset_id -> Text,
        version -> Integer,
        format -> Text,
        callback_address -> Text,
        endpoint -> Text,
        state -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    dsp_callbacks (id) {
        id -> Text,
        process_id -> Text,
        kind -> Text,
        url -> Text,
        body -> Text,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        claimed_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
    }
}
