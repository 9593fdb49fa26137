//! The `datamarket` command: the server, and the operator's tools.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use datamarket::accounts::{self, NewAccount, Registrar};
use datamarket::config::Settings;
use datamarket::domain::Role;
use datamarket::keys::PlatformKeys;
use datamarket::{Market, gateway};
use rand::Rng;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "datamarket", version, about = "A data-element marketplace")]
struct Cli {
    /// A TOML file overriding the built-in defaults (environment variables
    /// DATAMARKET__SECTION__KEY override both).
    #[arg(long, global = true, env = "DATAMARKET_CONFIG")]
    config: Option<PathBuf>,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the marketplace (applies pending migrations first).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Operator tasks.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Platform key management.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The verifiable audit log, checked from the outside.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Rights registration certificates.
    #[command(subcommand)]
    Certificate(CertificateCommand),
    /// The market's books.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Run a C2SP tlog-witness for the given logs: it cosigns a log's
    /// checkpoint only when a consistency proof shows it extends the one it
    /// cosigned before, and refuses forks (docs/operations.md).
    Witness(WitnessArgs),
    /// Copy the running market into DIR, consistently, while it serves:
    /// the database (SQLite: VACUUM INTO; PostgreSQL: pg_dump of one
    /// snapshot), the platform keys and the file store's payloads, with
    /// DIR/MANIFEST.json (the audit log's signed head in the copy, and the
    /// restore steps). DIR must be new or empty.
    Backup {
        dir: PathBuf,
        /// The pg_dump program (PostgreSQL), of the server's major version
        /// or newer.
        #[arg(long, default_value = "pg_dump")]
        pg_dump: PathBuf,
    },
    // Client commands: see `client_commands` at the end of this file.
    #[command(flatten)]
    Client(datamarket::client::cli::ClientCommand),
    /// Print a completion script for bash, zsh, fish, elvish or PowerShell.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Args)]
struct WitnessArgs {
    /// The witness's key name, a schema-less URL (e.g. witness.example/w1).
    #[arg(long)]
    name: String,
    /// Where the witness keeps its records of each log (and its key).
    #[arg(long)]
    state_dir: PathBuf,
    /// Its Ed25519 key (PKCS#8 PEM); default STATE_DIR/witness-key.pem,
    /// made on first start.
    #[arg(long)]
    key: Option<PathBuf>,
    /// A log to witness, as its checkpoint vkey (`datamarket keys vkey`
    /// prints the market's); repeat for several logs or keys.
    #[arg(long = "log", required = true)]
    logs: Vec<String>,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: String,
}

#[derive(Subcommand)]
enum CertificateCommand {
    /// Verify a certificate offline and print what it attests. FILE holds the
    /// compact JWS, or the JSON document the API returns for a certificate.
    Verify {
        file: PathBuf,
        /// The platform's JWKS: a URL (e.g. https://market/.well-known/jwks.json) or a file.
        #[arg(long)]
        jwks: String,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an account with any roles (regulators, auditors, admins).
    CreateAccount(CreateAccount),
    /// Credit an account's wallet with money received outside the payment
    /// provider (a bank transfer, say). Idempotent on --reference: crediting
    /// the same reference again moves nothing.
    Credit(Credit),
}

#[derive(Args)]
struct Credit {
    /// The account's id.
    #[arg(long)]
    account: uuid::Uuid,
    /// Minor units (fen for CNY): 12345 CNY minor units are 123.45 yuan.
    #[arg(long)]
    amount: i64,
    /// ISO 4217 code.
    #[arg(long, default_value = "CNY")]
    currency: String,
    /// The operator's reference for the money received (e.g. the bank
    /// transfer's id); recorded in the ledger and the audit log.
    #[arg(long)]
    reference: String,
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Check the books: every journal entry and every currency sums to
    /// zero, no wallet is negative, every order's escrow matches its state,
    /// and every journal entry is the one the audit log recorded. Without
    /// --server or --export, reads the configured database directly.
    Check(LedgerCheckArgs),
}

#[derive(Args)]
struct LedgerCheckArgs {
    /// A server's base URL: downloads its ledger export and verifies its
    /// whole audit log (an auditor's or regulator's token).
    #[arg(long, conflicts_with = "export")]
    server: Option<String>,
    #[arg(long, env = "DATAMARKET_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The JWKS to trust with --server, a URL or a file (default: the server's own).
    #[arg(long)]
    jwks: Option<String>,
    /// A file saved from GET /api/v1/ledger/export (checks the books'
    /// invariants; the audit log is not at hand).
    #[arg(long)]
    export: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct CreateAccount {
    #[arg(long)]
    name: String,
    /// Repeat for several roles.
    #[arg(long = "role", required = true)]
    roles: Vec<RoleArg>,
    #[arg(long)]
    display_name: Option<String>,
    #[arg(long)]
    organization: Option<String>,
    /// Registered territory (ISO 3166-1 alpha-2); default: the home territory.
    #[arg(long)]
    territory: Option<String>,
    /// Read the password from standard input instead of generating one.
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Provider,
    Consumer,
    Regulator,
    Auditor,
    Admin,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Provider => Role::Provider,
            RoleArg::Consumer => Role::Consumer,
            RoleArg::Regulator => Role::Regulator,
            RoleArg::Auditor => Role::Auditor,
            RoleArg::Admin => Role::Admin,
        }
    }
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a new platform key; it signs from the next start on, and
    /// every older key stays in the JWKS so that what it signed stays
    /// verifiable.
    Rotate,
    /// Print the JWKS of the keys directory.
    Jwks,
    /// Print the checkpoint verifier key (signed-note vkey) of every key in
    /// the keys directory, under the configured audit origin: what a
    /// witness is given with --log.
    Vkey,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cli = match client_commands(cli, &runtime) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour codes help a terminal and garble a log file or journal.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    if let Command::Certificate(CertificateCommand::Verify { file, jwks }) = &cli.command {
        return verify_certificate(file, jwks).await;
    }
    // Verifiers are clients of a server: they need none of its settings.
    if let Command::Audit(command) = &cli.command {
        return audit_command(command).await;
    }
    if let Command::Witness(args) = &cli.command {
        return witness(args).await;
    }
    if let Command::Ledger(LedgerCommand::Check(args)) = &cli.command
        && (args.server.is_some() || args.export.is_some())
    {
        return ledger_check_remote(args).await;
    }
    let settings = Settings::load(cli.config.as_deref()).map_err(|e| e.to_string())?;
    match cli.command {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            let db =
                datamarket::store::Db::connect(&settings.database).map_err(|e| e.to_string())?;
            let applied = db.migrate().map_err(|e| e.to_string())?;
            println!("applied {} migration(s)", applied.len());
            for name in applied {
                println!("  {name}");
            }
            Ok(())
        }
        Command::Admin(AdminCommand::CreateAccount(args)) => create_account(settings, args).await,
        Command::Admin(AdminCommand::Credit(args)) => credit(settings, args).await,
        Command::Ledger(LedgerCommand::Check(args)) => ledger_check_local(settings, &args).await,
        Command::Keys(KeysCommand::Rotate) => {
            let kid = PlatformKeys::rotate(&settings.auth.keys_dir).map_err(|e| e.to_string())?;
            println!(
                "created platform key {kid}; each instance signs with it once it has re-read its keys (on restart, or when it first meets the new kid)"
            );
            Ok(())
        }
        Command::Backup { dir, pg_dump } => backup(settings, dir, pg_dump).await,
        Command::Certificate(_) => Ok(()),
        Command::Audit(_) | Command::Witness(_) => Ok(()),
        Command::Client(_) | Command::Completions { .. } => Ok(()),
        Command::Keys(KeysCommand::Jwks) => {
            let keys = PlatformKeys::load(&settings.auth.keys_dir).map_err(|e| e.to_string())?;
            println!("{}", keys.jwks());
            Ok(())
        }
        Command::Keys(KeysCommand::Vkey) => {
            let keys = PlatformKeys::load(&settings.auth.keys_dir).map_err(|e| e.to_string())?;
            let jwks = datamarket::audit::checkpoint::TrustedKeys::from_jwks(&keys.jwks())
                .map_err(|e| e.to_string())?;
            for key in jwks.keys {
                println!(
                    "{}",
                    datamarket::audit::cosignature::Vkey::log(&settings.audit.origin, key.key)
                );
            }
            Ok(())
        }
    }
}

async fn serve(settings: Settings) -> Result<(), String> {
    let bind = settings.server.bind.clone();
    let market = tokio::task::spawn_blocking(move || Market::open(settings))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let sweeper = datamarket::grants::spawn_sweeper(market.clone());
    let watch = datamarket::supervision::spawn_watch(market.clone());
    let dispatcher = datamarket::events::dispatch::spawn_dispatcher(market.clone());
    let collector =
        datamarket::witness::spawn_collector(market.clone()).map_err(|e| e.to_string())?;
    let running = gateway::start(market).map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    tracing::info!(addr = %running.addr, "datamarket is serving");
    let result = running.server.await.map_err(|e| e.to_string());
    sweeper.abort();
    watch.abort();
    dispatcher.abort();
    if let Some(collector) = collector {
        collector.abort();
    }
    tracing::info!("datamarket stopped");
    result
}

async fn witness(args: &WitnessArgs) -> Result<(), String> {
    use datamarket::witness::{Witness, WitnessOptions, server};
    let options = WitnessOptions {
        name: args.name.clone(),
        state_dir: args.state_dir.clone(),
        key: args.key.clone(),
        logs: args.logs.clone(),
    };
    let witness = tokio::task::spawn_blocking(move || Witness::open(options))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    // The first line of output is the witness's vkey, for the market's
    // audit.witnesses and for `audit verify --witness`.
    println!("{}", witness.vkey());
    let (running, addr) = server::start(std::sync::Arc::new(witness), &args.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    tracing::info!(%addr, "the witness is serving");
    running.await.map_err(|e| e.to_string())
}

async fn backup(settings: Settings, dir: PathBuf, pg_dump: PathBuf) -> Result<(), String> {
    use datamarket::backup;
    let options = backup::Options {
        dir: dir.clone(),
        pg_dump: datamarket::store::snapshot::PgDump { program: pg_dump },
    };
    let manifest = tokio::task::spawn_blocking(move || backup::run(&settings, &options))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("backup failed: {e}"))?;
    println!("backup written to {}", dir.display());
    println!("{manifest}");
    Ok(())
}

async fn create_account(settings: Settings, args: CreateAccount) -> Result<(), String> {
    let (password, generated) = if args.password_stdin {
        let mut password = String::new();
        std::io::stdin()
            .read_to_string(&mut password)
            .map_err(|e| format!("cannot read the password: {e}"))?;
        (password.trim_end_matches(['\r', '\n']).to_owned(), false)
    } else {
        (generate_password(), true)
    };
    let market = tokio::task::spawn_blocking(move || Market::open(settings))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let input = NewAccount {
        name: args.name,
        password: password.clone(),
        roles: args.roles.into_iter().map(Role::from).collect(),
        display_name: args.display_name,
        organization: args.organization,
        territory: args.territory,
        entity_type: None,
        credit_code: None,
        region: None,
    };
    let account = accounts::register(&market, Registrar::Operator, input)
        .await
        .map_err(|e| e.to_string())?
        .value;
    let roles: Vec<_> = account.roles.iter().map(|r| r.as_str()).collect();
    println!(
        "created account {} ({}) with roles {}",
        account.name,
        account.id,
        roles.join(", ")
    );
    if generated {
        println!("password: {password}");
        println!("(shown once: hand it to the account's owner over a safe channel)");
    }
    Ok(())
}

async fn credit(settings: Settings, args: Credit) -> Result<(), String> {
    let market = tokio::task::spawn_blocking(move || Market::open(settings))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let recorded = datamarket::trading::operator_credit(
        &market,
        args.account,
        args.amount,
        &args.currency,
        &args.reference,
    )
    .await
    .map_err(|e| e.to_string())?;
    let payment = recorded.value;
    if payment.duplicate {
        println!(
            "reference {} was credited before ({} {} to {} in journal entry {}): nothing moved",
            args.reference, payment.amount, payment.currency, payment.account, payment.journal
        );
    } else {
        println!(
            "credited {} {} (minor units) to {} in journal entry {} (audit entries {:?})",
            payment.amount,
            payment.currency,
            payment.account,
            payment.journal,
            recorded.audit_indexes
        );
    }
    Ok(())
}

fn print_ledger_report(
    report: &datamarket::trading::CheckReport,
    json: bool,
) -> Result<(), String> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).map_err(|e| e.to_string())?
        );
    } else {
        print!("{report}");
        if report.holds() {
            println!();
        }
    }
    if report.holds() {
        Ok(())
    } else {
        Err("the books do not hold".into())
    }
}

async fn ledger_check_local(settings: Settings, args: &LedgerCheckArgs) -> Result<(), String> {
    let db = datamarket::store::Db::connect(&settings.database).map_err(|e| e.to_string())?;
    let report = db
        .read(datamarket::trading::books::check_against_log)
        .await
        .map_err(|e| e.to_string())?;
    print_ledger_report(&report, args.json)
}

async fn ledger_check_remote(args: &LedgerCheckArgs) -> Result<(), String> {
    use datamarket::audit::verify::Problem;
    use datamarket::client::{audit as remote, ledger};
    let report = match (&args.server, &args.export) {
        (Some(url), _) => {
            let server = remote::Server {
                url: url.clone(),
                token: args.token.clone(),
            };
            ledger::check_server(&server, args.jwks.as_deref()).await
        }
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| Problem::Error(format!("cannot read {}: {e}", path.display())))
            .and_then(|text| ledger::check_export(&text)),
        (None, None) => Err(Problem::Error("give --server or --export".into())),
    };
    match report {
        Ok(report) => print_ledger_report(&report, args.json),
        Err(Problem::Failed(failure)) => {
            println!("{failure}");
            Err("the audit log does not verify".into())
        }
        Err(Problem::Error(message)) => Err(message),
    }
}

fn generate_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    (0..24)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

async fn verify_certificate(file: &std::path::Path, jwks: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let text = text.trim();
    let jws = if text.starts_with('{') {
        let doc: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        doc["jws"]
            .as_str()
            .ok_or("the JSON document has no \"jws\" member")?
            .to_owned()
    } else {
        text.to_owned()
    };
    let jwks = datamarket::client::load_jwks(jwks).await?;
    let claims = datamarket::access::certificate::verify(&jws, &jwks)
        .map_err(|e| format!("certificate INVALID: {e}"))?;
    println!(
        "certificate valid: the platform certifies that {} holds the {} right over dataset {} ({} since {})",
        claims.holder, claims.right, claims.dataset, claims.origin, claims.issued_at
    );
    if let Some(until) = &claims.valid_until {
        println!("delegated until {until}");
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&claims).map_err(|e| e.to_string())?
    );
    Ok(())
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify the whole log: download every entry (or read an export),
    /// recompute every leaf, stored subtree hash and signed root, check the
    /// newest signed head against the JWKS and, with --trusted-head, that
    /// the log extends a head saved earlier. Prints a one-line verdict and
    /// exits non-zero on failure.
    Verify(VerifyArgs),
    /// Fetch one entry and its inclusion proof at the newest signed head,
    /// and check both.
    Prove(ProveArgs),
}

#[derive(Args)]
struct VerifyArgs {
    /// The server's base URL, e.g. http://127.0.0.1:8080.
    #[arg(long, required_unless_present = "export", conflicts_with = "export")]
    server: Option<String>,
    /// An auditor's or regulator's access token.
    #[arg(long, env = "DATAMARKET_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Verify a JSON Lines export (GET /api/v1/audit/entries?format=jsonl)
    /// instead of a server.
    #[arg(long, requires = "jwks")]
    export: Option<PathBuf>,
    /// The JWKS to trust, a URL or a file (default: the server's own).
    #[arg(long)]
    jwks: Option<String>,
    /// A checkpoint saved earlier with --save-head: the log must extend it.
    #[arg(long)]
    trusted_head: Option<PathBuf>,
    /// After a successful verification, save the newest signed head's
    /// checkpoint here, to pass as --trusted-head next time.
    #[arg(long)]
    save_head: Option<PathBuf>,
    /// Verify every signed head's signature, not only the newest one's.
    #[arg(long)]
    every_signature: bool,
    /// Require the log to be witnessed: a witness's cosigning vkey
    /// (repeatable). The server's witnessed checkpoint must carry valid
    /// cosignatures from --quorum of them, and the log must extend it.
    #[arg(long = "witness", requires = "server", conflicts_with = "trusted_head")]
    witnesses: Vec<String>,
    /// How many of the --witness keys must have cosigned (default: all).
    #[arg(long, requires = "witnesses")]
    quorum: Option<usize>,
}

#[derive(Args)]
struct ProveArgs {
    /// The server's base URL, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    server: String,
    /// An access token: an auditor's or regulator's, or a party's to the entry.
    #[arg(long, env = "DATAMARKET_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The entry's index (the Audit-Index of the response that made it).
    #[arg(long)]
    index: u64,
    /// The JWKS to trust, a URL or a file (default: the server's own).
    #[arg(long)]
    jwks: Option<String>,
}

async fn audit_command(command: &AuditCommand) -> Result<(), String> {
    use datamarket::audit::verify::Problem;
    use datamarket::client::audit as remote;
    let outcome = match command {
        AuditCommand::Verify(args) => audit_verify(args).await,
        AuditCommand::Prove(args) => {
            let server = remote::Server {
                url: args.server.clone(),
                token: args.token.clone(),
            };
            remote::prove(&server, args.jwks.as_deref(), args.index)
                .await
                .map(|proven| proven.to_string())
        }
    };
    match outcome {
        Ok(verdict) => {
            println!("{verdict}");
            Ok(())
        }
        Err(Problem::Failed(failure)) => {
            println!("{failure}");
            Err("the audit log does not verify".into())
        }
        Err(Problem::Error(message)) => Err(message),
    }
}

async fn audit_verify(args: &VerifyArgs) -> Result<String, datamarket::audit::verify::Problem> {
    use datamarket::audit::verify::{self, Options, Problem};
    use datamarket::client::audit as remote;
    let options = Options {
        every_signature: args.every_signature,
    };
    let trusted = args
        .trusted_head
        .as_ref()
        .map(|path| {
            std::fs::read_to_string(path)
                .map_err(|e| Problem::Error(format!("cannot read {}: {e}", path.display())))
        })
        .transpose()?;
    if !args.witnesses.is_empty() {
        let witnesses = remote::Witnesses::parse(&args.witnesses, args.quorum)?;
        let server = remote::Server {
            url: args.server.clone().unwrap_or_default(),
            token: args.token.clone(),
        };
        let witnessed =
            remote::verify_witnessed(&server, args.jwks.as_deref(), &witnesses, options).await?;
        if let Some(path) = &args.save_head {
            std::fs::write(path, &witnessed.report.head.checkpoint)
                .map_err(|e| Problem::Error(format!("cannot write {}: {e}", path.display())))?;
        }
        return Ok(witnessed.to_string());
    }
    let report = match (&args.server, &args.export) {
        (_, Some(path)) => {
            let keys = remote::load_keys(args.jwks.as_deref().unwrap_or_default()).await?;
            let trusted = trusted
                .map(|text| verify::trusted_checkpoint(&text, &keys))
                .transpose()?;
            let file = std::fs::File::open(path)
                .map_err(|e| Problem::Error(format!("cannot read {}: {e}", path.display())))?;
            verify::verify_export(
                std::io::BufReader::new(file),
                &keys,
                trusted.as_ref(),
                options,
            )?
        }
        (Some(url), None) => {
            let server = remote::Server {
                url: url.clone(),
                token: args.token.clone(),
            };
            remote::verify_server(&server, args.jwks.as_deref(), trusted.as_deref(), options)
                .await?
        }
        (None, None) => return Err(Problem::Error("give --server or --export".into())),
    };
    if let Some(path) = &args.save_head {
        std::fs::write(path, &report.head.checkpoint)
            .map_err(|e| Problem::Error(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(report.to_string())
}

// ---------------------------------------------------------------------------
// Client commands: `login`, `datasets …`, `download`, … talk to a server over
// its API only (datamarket::client, docs/cli.md), with an exit code per kind
// of failure; and `completions SHELL`.

/// Carries out a client command or prints completions, answering the exit
/// code; hands any other command back.
fn client_commands(cli: Cli, runtime: &tokio::runtime::Runtime) -> Result<Cli, ExitCode> {
    match cli.command {
        Command::Client(command) => Err(ExitCode::from(
            runtime.block_on(datamarket::client::cli::run(command)),
        )),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "datamarket",
                &mut std::io::stdout(),
            );
            Err(ExitCode::SUCCESS)
        }
        command => Ok(Cli { command, ..cli }),
    }
}
