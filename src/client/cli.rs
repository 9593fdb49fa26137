//! The client commands' command line: `datamarket login`, `datasets …`,
//! `download`, …, as clap types that `main.rs` flattens into the
//! `datamarket` command, and [`run`], which carries one out and answers
//! its exit code. docs/cli.md describes every command.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use uuid::Uuid;

use super::commands::{self, Printed};
use super::error::Failure;
use super::session::Target;

/// How results are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Text for people.
    #[default]
    Human,
    /// The server's JSON, for scripts (errors: the problem document).
    Json,
}

/// Where the server is and as whom to talk to it; accepted after any
/// client command.
#[derive(Args, Clone, Debug, Default)]
pub struct Connection {
    /// The server's base URL, e.g. http://127.0.0.1:8080 [default: the
    /// profile's].
    #[arg(long, global = true, env = "DATAMARKET_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// The profile (a saved server and login) to use [default: the one
    /// saved for --server, else "default"].
    #[arg(long, global = true, env = "DATAMARKET_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    /// Print text for people, or the server's JSON for scripts.
    #[arg(long, global = true, value_enum, default_value_t = Output::Human, value_name = "FORMAT")]
    pub output: Output,
}

impl Connection {
    pub fn target(&self) -> Target {
        Target {
            server: self.server.clone(),
            profile: self.profile.clone(),
        }
    }
}

/// The client commands: a server's API as a command line.
#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Create an account on a server (providers and consumers; operators
    /// make the other roles).
    Register(RegisterArgs),
    /// Log in to a server and save the token in a profile.
    Login(LoginArgs),
    /// Forget a profile's saved token.
    Logout(LogoutArgs),
    /// Show the account a profile (or DATAMARKET_TOKEN) acts as.
    Whoami(Connection),
    /// Find, show and manage dataset listings.
    Datasets {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: DatasetsCommand,
    },
    /// Upload and list a dataset's payload versions.
    Versions {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: VersionsCommand,
    },
    /// Access requests: ask for licensed access, decide on it.
    Requests {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: RequestsCommand,
    },
    /// Grants: licences to download under a policy; data tokens.
    Grants {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: GrantsCommand,
    },
    /// Download a version's payload, resumably, checked against its SHA-256.
    Download(DownloadArgs),
    /// Property rights over a dataset: who holds them, transfers,
    /// certificates.
    Rights {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: RightsCommand,
    },
    /// The lineage graph around a dataset.
    Lineage(LineageArgs),
    /// Offers: a listing's price plans (the operation right's holder makes
    /// them).
    Offers {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: OffersCommand,
    },
    /// Orders: buy under an offer, and follow, cancel or renew what was
    /// bought.
    Orders {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: OrdersCommand,
    },
    /// Your wallet: what you may spend or ask to be paid out, per currency.
    Wallet(Connection),
    /// An account's statement: purchases, sales, royalties, deposits and
    /// payouts over a period.
    Statement(StatementArgs),
    /// Payouts: ask for money from your wallet to be paid out (providers).
    Payouts {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: PayoutsCommand,
    },
}

#[derive(Args, Debug)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// Login name: 3 to 64 letters, digits, '.', '_' and '-'.
    #[arg(long)]
    pub name: String,
    /// provider or consumer; repeat for both.
    #[arg(long = "role", required = true, value_name = "ROLE")]
    pub roles: Vec<String>,
    #[arg(long)]
    pub organization: Option<String>,
    #[arg(long)]
    pub display_name: Option<String>,
    /// Registered territory (ISO 3166-1 alpha-2) [default: the market's].
    #[arg(long)]
    pub territory: Option<String>,
    /// Read the password from standard input instead of the terminal.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The account's login name [default: the profile's].
    #[arg(long)]
    pub name: Option<String>,
    /// Read the password from standard input instead of the terminal.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Subcommand, Debug)]
pub enum DatasetsCommand {
    /// Search the catalog (titles, descriptions, tags; any language).
    Search(SearchArgs),
    /// Show one dataset.
    Show { id: Uuid },
    /// Create a draft listing.
    Create(CreateArgs),
    /// Change a draft (only the options given).
    Edit(EditArgs),
    /// Submit a draft: general data is listed, important data goes to review.
    Publish { id: Uuid },
    /// Take a listing off the market.
    Delist {
        id: Uuid,
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Words to find (substring match; Chinese or English).
    pub query: Option<String>,
    #[arg(long)]
    pub tag: Option<String>,
    #[arg(long, value_enum)]
    pub classification: Option<ClassificationArg>,
    /// A provider's account id.
    #[arg(long)]
    pub provider: Option<Uuid>,
    #[arg(long)]
    pub limit: Option<u32>,
    /// The previous page's next_cursor.
    #[arg(long)]
    pub cursor: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ClassificationArg {
    General,
    Important,
    Core,
}

impl ClassificationArg {
    pub fn as_str(self) -> &'static str {
        match self {
            ClassificationArg::General => "general",
            ClassificationArg::Important => "important",
            ClassificationArg::Core => "core",
        }
    }
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    #[arg(long)]
    pub title: String,
    #[arg(long, default_value = "")]
    pub description: String,
    /// A single word; repeat for several.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    #[arg(long, value_enum)]
    pub classification: ClassificationArg,
    /// The data holds personal information.
    #[arg(long)]
    pub personal_data: bool,
    #[arg(long)]
    pub license: String,
    /// Price in the currency's minor unit (fen for CNY).
    #[arg(long, value_name = "AMOUNT")]
    pub price: u64,
    /// ISO 4217 code.
    #[arg(long, default_value = "CNY")]
    pub currency: String,
    /// A source version this dataset was derived from, as DATASET:VERSION;
    /// repeat for several (needs --activity).
    #[arg(
        long = "derived-from",
        value_name = "DATASET:VERSION",
        requires = "activity"
    )]
    pub derived_from: Vec<String>,
    /// The processing step that made it from its sources.
    #[arg(long)]
    pub activity: Option<String>,
}

#[derive(Args, Debug)]
pub struct EditArgs {
    pub id: Uuid,
    #[arg(long)]
    pub title: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    /// Replaces the tags; repeat for several.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Option<Vec<String>>,
    #[arg(long, value_enum)]
    pub classification: Option<ClassificationArg>,
    #[arg(long, value_name = "true|false")]
    pub personal_data: Option<bool>,
    #[arg(long)]
    pub license: Option<String>,
    /// Price in the currency's minor unit.
    #[arg(long, value_name = "AMOUNT", requires = "currency")]
    pub price: Option<u64>,
    #[arg(long, requires = "price")]
    pub currency: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum VersionsCommand {
    /// Upload FILE as a new immutable version (streamed from disk).
    Upload {
        dataset: Uuid,
        file: PathBuf,
        /// Its media type [default: from the file's extension].
        #[arg(long)]
        media_type: Option<String>,
    },
    /// A dataset's versions, oldest first.
    List { dataset: Uuid },
}

#[derive(Subcommand, Debug)]
pub enum RequestsCommand {
    /// Ask for licensed access to a dataset.
    Create(RequestArgs),
    /// Requests made (outgoing) or received (incoming).
    List {
        #[arg(long, value_enum)]
        role: Option<RequestRoleArg>,
        #[arg(long, value_enum)]
        state: Option<RequestStateArg>,
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show one request.
    Show { id: Uuid },
    /// Approve a request (its holder): a grant is made. The options narrow
    /// what was asked for.
    Approve(ApproveArgs),
    /// Reject a request (its holder).
    Reject {
        id: Uuid,
        #[arg(long)]
        reason: String,
    },
    /// Withdraw one's own pending request.
    Withdraw { id: Uuid },
}

#[derive(Args, Debug)]
pub struct RequestArgs {
    pub dataset: Uuid,
    /// What the data will be used for (required for personal data).
    #[arg(long)]
    pub purpose: Option<String>,
    /// How long the grant should run.
    #[arg(long, value_name = "DAYS")]
    pub days: u32,
    /// How many downloads.
    #[arg(long, value_name = "N")]
    pub downloads: u32,
    /// The data will be processed into other data.
    #[arg(long)]
    pub processing: bool,
    /// The data will go abroad, to this country (ISO 3166-1 alpha-2).
    #[arg(long, value_name = "COUNTRY", requires_all = ["legal_basis", "subjects"])]
    pub cross_border: Option<String>,
    /// What sending it abroad rests on (with --cross-border).
    #[arg(long, value_enum, requires = "cross_border")]
    pub legal_basis: Option<LegalBasisArg>,
    /// How many individuals' personal information would go abroad (with
    /// --cross-border; 0 for data without any).
    #[arg(long, value_name = "N", requires = "cross_border")]
    pub subjects: Option<u64>,
    #[arg(long)]
    pub message: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum LegalBasisArg {
    SecurityAssessment,
    StandardContract,
    Certification,
    Exemption,
}

#[derive(Args, Debug)]
pub struct ApproveArgs {
    pub id: Uuid,
    /// Fewer downloads than asked for.
    #[arg(long, value_name = "N")]
    pub max_downloads: Option<u32>,
    /// Pin the grant to one version.
    #[arg(long)]
    pub version: Option<i32>,
    /// End earlier than asked (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub not_after: Option<String>,
    /// Start later than now (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub not_before: Option<String>,
    /// Refuse the processing asked for.
    #[arg(long)]
    pub no_processing: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RequestRoleArg {
    Incoming,
    Outgoing,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum RequestStateArg {
    Pending,
    UnderReview,
    Approved,
    Rejected,
    Withdrawn,
    Expired,
}

#[derive(Subcommand, Debug)]
pub enum GrantsCommand {
    /// Grants one holds (licensee) or gave (licensor).
    List {
        #[arg(long, value_enum)]
        role: Option<GrantRoleArg>,
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show one grant (with --policy: its ODRL policy).
    Show {
        id: Uuid,
        #[arg(long)]
        policy: bool,
    },
    /// Revoke a grant (its licensor): deliveries stop at once.
    Revoke {
        id: Uuid,
        #[arg(long)]
        reason: String,
    },
    /// Take a short-lived data token for a pipeline (the licensee). Human
    /// output is the token alone.
    Token {
        id: Uuid,
        /// Bind the token to one version.
        #[arg(long)]
        version: Option<i32>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum GrantRoleArg {
    Licensor,
    Licensee,
}

#[derive(Args, Debug)]
pub struct DownloadArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The dataset's id [default with --grant: the grant's, and a single
    /// argument that is no id is FILE].
    #[arg(required_unless_present = "grant", value_name = "DATASET")]
    pub dataset: Option<String>,
    /// Where to save it [default: DATASET-vN here]; a directory gets that
    /// name inside. The transfer goes to FILE.part first.
    pub file: Option<PathBuf>,
    /// The version [default: the token's, else the newest available].
    #[arg(long)]
    pub version: Option<i32>,
    /// Download with this data token instead of the profile's account.
    #[arg(
        long,
        env = "DATAMARKET_DATA_TOKEN",
        hide_env_values = true,
        conflicts_with = "grant"
    )]
    pub data_token: Option<String>,
    /// Take a data token for this grant first, and download with it.
    #[arg(long)]
    pub grant: Option<Uuid>,
}

#[derive(Subcommand, Debug)]
pub enum RightsCommand {
    /// Who holds each right over a dataset now, and the history.
    Show { dataset: Uuid },
    /// Transfer a right for good, or delegate it with --until.
    Transfer {
        dataset: Uuid,
        #[arg(long, value_enum)]
        right: RightArg,
        /// The receiving account's id.
        #[arg(long, value_name = "ACCOUNT")]
        to: Uuid,
        /// Delegate until this time (RFC 3339) instead of transferring.
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        #[arg(long)]
        note: Option<String>,
    },
    /// The current registration certificate of a right registration (its
    /// id is in `rights show`); --save writes it for `certificate verify`.
    Certificate {
        registration: Uuid,
        #[arg(long, value_name = "FILE")]
        save: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RightArg {
    Holding,
    Processing,
    Operation,
}

#[derive(Args, Debug)]
pub struct LineageArgs {
    #[command(flatten)]
    pub connection: Connection,
    pub dataset: Uuid,
    #[arg(long, value_enum)]
    pub direction: Option<DirectionArg>,
    #[arg(long)]
    pub depth: Option<u32>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DirectionArg {
    Upstream,
    Downstream,
    Both,
}

#[derive(Subcommand, Debug)]
pub enum OffersCommand {
    /// A listing's active offers.
    List { dataset: Uuid },
    /// Show one offer, at its current version or an earlier one.
    Show {
        id: Uuid,
        #[arg(long)]
        version: Option<i32>,
    },
    /// Put an offer on a listing.
    Create {
        dataset: Uuid,
        #[command(flatten)]
        terms: OfferTerms,
    },
    /// Revise an offer: the terms given become its next version (orders
    /// already placed keep theirs).
    Revise {
        id: Uuid,
        #[command(flatten)]
        terms: OfferTerms,
    },
    /// Withdraw an offer: it takes no more orders.
    Withdraw { id: Uuid },
}

/// An offer's terms (docs/trading.md).
#[derive(Args, Debug)]
pub struct OfferTerms {
    #[arg(long, value_enum)]
    pub plan: PlanArg,
    /// The price (per period, per download) in the currency's minor unit
    /// (fen for CNY).
    #[arg(long, value_name = "AMOUNT")]
    pub price: u64,
    /// ISO 4217 code.
    #[arg(long, default_value = "CNY")]
    pub currency: String,
    /// One-off and metered: how long the grant lasts [server default: 365].
    #[arg(long, value_name = "DAYS")]
    pub term_days: Option<u32>,
    /// Subscriptions: the period one payment buys.
    #[arg(long, value_name = "DAYS")]
    pub period_days: Option<u32>,
    /// Downloads the grant allows (per period for subscriptions).
    #[arg(long, value_name = "N")]
    pub max_downloads: u32,
    /// One-off: every version, or the latest at purchase [server default:
    /// all_versions].
    #[arg(long, value_enum)]
    pub covers: Option<CoversArg>,
    /// A purpose the licence is for; repeat for several.
    #[arg(long = "purpose", value_name = "PURPOSE")]
    pub purposes: Vec<String>,
    /// The buyer may process the data into derived datasets.
    #[arg(long)]
    pub processing: bool,
    /// A territory abroad (ISO 3166-1 alpha-2) the data may also go to;
    /// repeat for several.
    #[arg(long = "territory", value_name = "CC")]
    pub territory: Vec<String>,
    /// Processing licences: the royalty a derived product owes on each of
    /// its sales, in basis points (at most 9000).
    #[arg(long, value_name = "BPS", default_value_t = 0)]
    pub royalty_bps: u32,
    /// Bought without waiting for the provider's approval.
    #[arg(long)]
    pub instant: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum PlanArg {
    OneOff,
    Subscription,
    Metered,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum CoversArg {
    AllVersions,
    LatestVersion,
}

#[derive(Subcommand, Debug)]
pub enum OrdersCommand {
    /// Buy under an offer: the price moves from the wallet into escrow; an
    /// instant offer issues the grant at once. Safe to retry with the same
    /// --idempotency-key.
    Place(PlaceArgs),
    /// Orders bought, or sold, newest first.
    List {
        #[arg(long, value_enum)]
        role: Option<OrderRoleArg>,
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show one order.
    Show { id: Uuid },
    /// Cancel an order the provider has not decided: the price is refunded.
    Cancel { id: Uuid },
    /// Renew a settled subscription for another period.
    Renew {
        id: Uuid,
        /// Makes a retry safe [default: a new random key, printed].
        #[arg(long, value_name = "KEY")]
        idempotency_key: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct PlaceArgs {
    pub offer: Uuid,
    /// What the data is for: one of the offer's purposes when it names any.
    #[arg(long)]
    pub purpose: Option<String>,
    /// The offer's version read: refused if the offer has been revised since.
    #[arg(long, value_name = "N")]
    pub offer_version: Option<i32>,
    /// A note to the provider (offers that need approval).
    #[arg(long)]
    pub message: Option<String>,
    /// Sent as Idempotency-Key: a retry with the same key gets the first
    /// answer and pays nothing twice [default: a new random key, printed].
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OrderRoleArg {
    Bought,
    Sold,
}

#[derive(Args, Debug)]
pub struct StatementArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The account (auditors, regulators) [default: your own].
    #[arg(long)]
    pub account: Option<Uuid>,
    /// Start of the period (RFC 3339) [default: 30 days before --to].
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// End of the period, exclusive (RFC 3339) [default: now].
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum PayoutsCommand {
    /// Ask for AMOUNT (minor units) of CURRENCY to be paid out: it is held
    /// at once.
    Request {
        amount: u64,
        currency: String,
        /// Makes a retry safe [default: a new random key, printed].
        #[arg(long, value_name = "KEY")]
        idempotency_key: Option<String>,
    },
    /// Payouts asked for, newest first.
    List {
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        cursor: Option<String>,
    },
}

/// The value a `ValueEnum` is spelled as on the command line (which is the
/// API's spelling too).
pub fn spelled<T: ValueEnum>(value: T) -> String {
    value
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default()
}

impl ClientCommand {
    fn connection(&self) -> &Connection {
        match self {
            ClientCommand::Register(a) => &a.connection,
            ClientCommand::Login(a) => &a.connection,
            ClientCommand::Logout(a) => &a.connection,
            ClientCommand::Whoami(c) => c,
            ClientCommand::Datasets { connection, .. }
            | ClientCommand::Versions { connection, .. }
            | ClientCommand::Requests { connection, .. }
            | ClientCommand::Grants { connection, .. }
            | ClientCommand::Rights { connection, .. }
            | ClientCommand::Offers { connection, .. }
            | ClientCommand::Orders { connection, .. }
            | ClientCommand::Payouts { connection, .. } => connection,
            ClientCommand::Wallet(c) => c,
            ClientCommand::Statement(a) => &a.connection,
            ClientCommand::Download(a) => &a.connection,
            ClientCommand::Lineage(a) => &a.connection,
        }
    }
}

/// Carries out a client command: prints its result (text or JSON) on
/// standard output, or the failure on standard error (and, with
/// `--output json`, the server's problem document on standard output), and
/// answers the exit code (docs/cli.md).
pub async fn run(command: ClientCommand) -> u8 {
    let output = command.connection().output;
    match commands::execute(command).await {
        Ok(printed) => {
            print(output, &printed);
            0
        }
        Err(failure) => {
            report(output, &failure);
            failure.kind.exit_code()
        }
    }
}

fn print(output: Output, printed: &Printed) {
    let mut stdout = std::io::stdout().lock();
    let _ = match output {
        Output::Json => writeln!(
            stdout,
            "{}",
            serde_json::to_string_pretty(&printed.json).unwrap_or_default()
        ),
        Output::Human if printed.human.is_empty() => Ok(()),
        Output::Human => writeln!(stdout, "{}", printed.human.trim_end()),
    };
}

fn report(output: Output, failure: &Failure) {
    if output == Output::Json
        && let Some(problem) = &failure.problem
    {
        println!(
            "{}",
            serde_json::to_string_pretty(problem).unwrap_or_default()
        );
    }
    eprintln!("error: {failure}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_spelled_as_the_api_spells_them() {
        assert_eq!(spelled(RequestStateArg::UnderReview), "under_review");
        assert_eq!(spelled(RequestStateArg::Pending), "pending");
        assert_eq!(
            spelled(LegalBasisArg::SecurityAssessment),
            "security_assessment"
        );
    }

    #[test]
    fn a_cross_border_request_names_its_basis() {
        use clap::Parser;
        #[derive(Parser, Debug)]
        struct Request {
            #[command(flatten)]
            args: RequestArgs,
        }
        let dataset = Uuid::nil().to_string();
        let base = ["request", &dataset, "--days", "1", "--downloads", "1"];
        let with = |extra: &[&str]| {
            let args: Vec<&str> = base.iter().chain(extra).copied().collect();
            Request::try_parse_from(args)
        };
        assert!(with(&["--cross-border", "SG"]).is_err());
        assert!(with(&["--legal-basis", "exemption", "--subjects", "3"]).is_err());
        assert!(
            with(&[
                "--cross-border",
                "SG",
                "--legal-basis",
                "standard_contract",
                "--subjects",
                "150000"
            ])
            .is_ok()
        );
    }
}
