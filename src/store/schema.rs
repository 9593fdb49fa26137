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
