//! What each client command does over the API, and what it prints: the
//! server's JSON for `--output json`, a few lines of text otherwise (made
//! by the private `render` module).

use std::io::{IsTerminal, Read};

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::cli::{
    ApproveArgs, ClientCommand, Connection, CreateArgs, DatasetsCommand, DownloadArgs, EditArgs,
    GrantsCommand, LineageArgs, LoginArgs, LogoutArgs, RegisterArgs, RequestArgs, RequestsCommand,
    RightsCommand, SearchArgs, VersionsCommand, spelled,
};
use super::error::{Failure, Kind, Result};
use super::render;
use super::session::{Profile, Profiles, Session, Target, normalize_server};
use super::{trading, transfer};

/// A command's result: the JSON to print for scripts and the text for people.
#[derive(Debug)]
pub struct Printed {
    pub json: Value,
    pub human: String,
}

impl Printed {
    pub(super) fn new(json: Value, human: String) -> Printed {
        Printed { json, human }
    }
}

/// Carries out one client command.
pub async fn execute(command: ClientCommand) -> Result<Printed> {
    match command {
        ClientCommand::Register(args) => register(args).await,
        ClientCommand::Login(args) => login(args).await,
        ClientCommand::Logout(args) => logout(args),
        ClientCommand::Whoami(connection) => {
            let session = Session::resolve(&connection.target())?;
            let me = session.get("/accounts/me", &[]).await?;
            let human = render::account(&me, &session);
            Ok(Printed::new(me, human))
        }
        ClientCommand::Datasets {
            connection,
            command,
        } => datasets(&connection, command).await,
        ClientCommand::Versions {
            connection,
            command,
        } => versions(&connection, command).await,
        ClientCommand::Requests {
            connection,
            command,
        } => requests(&connection, command).await,
        ClientCommand::Grants {
            connection,
            command,
        } => grants(&connection, command).await,
        ClientCommand::Download(args) => download(args).await,
        ClientCommand::Rights {
            connection,
            command,
        } => rights(&connection, command).await,
        ClientCommand::Lineage(args) => lineage(args).await,
        ClientCommand::Offers {
            connection,
            command,
        } => trading::offers(&connection, command).await,
        ClientCommand::Orders {
            connection,
            command,
        } => trading::orders(&connection, command).await,
        ClientCommand::Wallet(connection) => trading::wallet(&connection).await,
        ClientCommand::Statement(args) => trading::statement(args).await,
        ClientCommand::Payouts {
            connection,
            command,
        } => trading::payouts(&connection, command).await,
    }
}

/// The password: from standard input (`--password-stdin`, up to the first
/// newline), or asked for on the terminal without echo (twice with
/// `confirm`).
fn read_password(from_stdin: bool, prompt: &str, confirm: bool) -> Result<String> {
    if from_stdin {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|e| {
            Failure::usage(format!("cannot read the password from standard input: {e}"))
        })?;
        let password = text.lines().next().unwrap_or("").to_owned();
        if password.is_empty() {
            return Err(Failure::usage("standard input held no password"));
        }
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() && !std::io::stderr().is_terminal() {
        return Err(Failure::usage(
            "no terminal to ask for the password on: pass --password-stdin",
        ));
    }
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt).map_err(|e| {
            Failure::usage(format!(
                "cannot read the password from the terminal ({e}): pass --password-stdin"
            ))
        })
    };
    let password = ask(prompt)?;
    if confirm && ask("Again: ")? != password {
        return Err(Failure::usage("the passwords differ"));
    }
    Ok(password)
}

async fn register(args: RegisterArgs) -> Result<Printed> {
    let session = anonymous(&args.connection)?;
    let password = read_password(
        args.password_stdin,
        &format!("New password for {} at {}: ", args.name, session.server),
        true,
    )?;
    let mut body = json!({
        "name": args.name,
        "password": password,
        "roles": args.roles,
    });
    set(
        &mut body,
        "organization",
        args.organization.map(Value::from),
    );
    set(
        &mut body,
        "display_name",
        args.display_name.map(Value::from),
    );
    set(&mut body, "territory", args.territory.map(Value::from));
    let account = session.post("/accounts", Some(&body)).await?;
    let human = format!(
        "registered {} ({}) at {}; log in with: datamarket login --server {} --name {}",
        account["name"].as_str().unwrap_or(""),
        account["id"].as_str().unwrap_or(""),
        session.server,
        session.server,
        account["name"].as_str().unwrap_or("")
    );
    Ok(Printed::new(account, human))
}

/// A session that sends no token (registration, login).
fn anonymous(connection: &Connection) -> Result<Session> {
    let resolved = Session::resolve(&connection.target())?;
    Session::with_token(&resolved.server, None)
}

async fn login(args: LoginArgs) -> Result<Printed> {
    let target = args.connection.target();
    let resolved = Session::resolve(&target)?;
    let profiles = Profiles::open()?;
    let profile_name = profile_for_login(&profiles, &target, &resolved)?;
    let saved = profiles.load(&profile_name)?;
    // The profile's account, unless the profile is for another server.
    let remembered = saved
        .filter(|p| normalize_server(&p.server) == resolved.server)
        .and_then(|p| p.account);
    let name = args
        .name
        .clone()
        .or(remembered)
        .ok_or_else(|| Failure::usage("whom to log in as: pass --name NAME"))?;
    let password = read_password(
        args.password_stdin,
        &format!("Password for {name} at {}: ", resolved.server),
        false,
    )?;
    let session = Session::with_token(&resolved.server, None)?;
    let token = session
        .post(
            "/auth/token",
            Some(&json!({"name": name, "password": password})),
        )
        .await?;
    let access = token["access_token"]
        .as_str()
        .ok_or_else(|| Failure::other("the server's token answer has no access_token"))?
        .to_owned();
    let expires_in = token["expires_in"].as_i64().unwrap_or(0);
    let session = Session::with_token(&resolved.server, Some(access.clone()))?;
    let me = session.get("/accounts/me", &[]).await?;
    let expires_at = chrono::Utc::now() + chrono::Duration::seconds(expires_in);
    let profile = Profile {
        server: resolved.server.clone(),
        account: me["name"].as_str().map(str::to_owned),
        account_id: me["id"].as_str().map(str::to_owned),
        roles: me["roles"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        token_expires_at: Some(expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    };
    let token_file = profiles.save(&profile_name, &profile, &access)?;
    let human = format!(
        "logged in to {} as {} ({}); profile {:?}, token saved in {} (expires {})",
        profile.server,
        profile.account.as_deref().unwrap_or(&name),
        profile.roles.join(", "),
        profile_name,
        token_file.display(),
        profile.token_expires_at.as_deref().unwrap_or("?"),
    );
    let json = json!({
        "profile": profile_name,
        "server": profile.server,
        "token_file": token_file,
        "expires_at": profile.token_expires_at,
        "account": me,
    });
    Ok(Printed::new(json, human))
}

/// The profile a login is saved in: the one named, else the one saved for
/// the server, else `default` unless that is another server's, else one
/// named after the server's host and port. One profile per server.
fn profile_for_login(profiles: &Profiles, target: &Target, resolved: &Session) -> Result<String> {
    if let Some(name) = &target.profile {
        return Ok(name.clone());
    }
    if let Some(name) = profiles.for_server(&resolved.server)? {
        return Ok(name);
    }
    let default = super::session::DEFAULT_PROFILE;
    if profiles.load(default)?.is_none() {
        return Ok(default.to_owned());
    }
    let host = resolved
        .server
        .split("://")
        .nth(1)
        .unwrap_or(&resolved.server)
        .split('/')
        .next()
        .unwrap_or("server");
    let name: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    Ok(name.trim_start_matches('.').to_owned())
}

fn logout(args: LogoutArgs) -> Result<Printed> {
    let target = args.connection.target();
    let profiles = Profiles::open()?;
    let name = match (&target.profile, &target.server) {
        (Some(name), _) => name.clone(),
        (None, Some(server)) => profiles
            .for_server(&normalize_server(server))?
            .ok_or_else(|| Failure::usage(format!("no profile is saved for {server}")))?,
        (None, None) => super::session::DEFAULT_PROFILE.to_owned(),
    };
    let removed = profiles.remove_token(&name)?;
    let human = if removed {
        format!("logged out: the token of profile {name:?} is deleted")
    } else {
        format!("profile {name:?} holds no token")
    };
    Ok(Printed::new(
        json!({"profile": name, "removed": removed}),
        human,
    ))
}

/// Sets `key` in a JSON object when there is a value.
pub(super) fn set(body: &mut Value, key: &str, value: Option<Value>) {
    if let (Some(map), Some(value)) = (body.as_object_mut(), value) {
        map.insert(key.to_owned(), value);
    }
}

pub(super) fn query(pairs: Vec<(&'static str, Option<String>)>) -> Vec<(&'static str, String)> {
    pairs
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
}

async fn datasets(connection: &Connection, command: DatasetsCommand) -> Result<Printed> {
    let session = Session::resolve(&connection.target())?;
    match command {
        DatasetsCommand::Search(args) => search(&session, args).await,
        DatasetsCommand::Show { id } => {
            let dataset = session.get(&format!("/datasets/{id}"), &[]).await?;
            let human = render::dataset(&dataset);
            Ok(Printed::new(dataset, human))
        }
        DatasetsCommand::Create(args) => create(&session, args).await,
        DatasetsCommand::Edit(args) => edit(&session, args).await,
        DatasetsCommand::Publish { id } => {
            let dataset = session
                .post(&format!("/datasets/{id}/publish"), None)
                .await?;
            let human = format!(
                "dataset {id} is {}",
                dataset["status"].as_str().unwrap_or("?")
            );
            Ok(Printed::new(dataset, human))
        }
        DatasetsCommand::Delist { id, reason } => {
            let mut body = json!({});
            set(&mut body, "reason", reason.map(Value::from));
            let dataset = session
                .post(&format!("/datasets/{id}/delist"), Some(&body))
                .await?;
            let human = format!(
                "dataset {id} is {}",
                dataset["status"].as_str().unwrap_or("?")
            );
            Ok(Printed::new(dataset, human))
        }
    }
}

async fn search(session: &Session, args: SearchArgs) -> Result<Printed> {
    let page = session
        .get(
            "/datasets",
            &query(vec![
                ("q", args.query),
                ("tag", args.tag),
                (
                    "classification",
                    args.classification.map(|c| c.as_str().to_owned()),
                ),
                ("provider", args.provider.map(|p| p.to_string())),
                ("limit", args.limit.map(|l| l.to_string())),
                ("cursor", args.cursor),
            ]),
        )
        .await?;
    let human = render::page(&page, "datasets", render::dataset_line);
    Ok(Printed::new(page, human))
}

/// `DATASET:VERSION` as a source reference.
fn source_ref(text: &str) -> Result<Value> {
    let (dataset, version) = text.rsplit_once(':').ok_or_else(|| {
        Failure::usage(format!("--derived-from {text}: expected DATASET:VERSION"))
    })?;
    let dataset: Uuid = dataset.parse().map_err(|_| {
        Failure::usage(format!(
            "--derived-from {text}: {dataset} is not a dataset id"
        ))
    })?;
    let version: i32 = version.parse().map_err(|_| {
        Failure::usage(format!(
            "--derived-from {text}: {version} is not a version number"
        ))
    })?;
    Ok(json!({"dataset": dataset, "version": version}))
}

async fn create(session: &Session, args: CreateArgs) -> Result<Printed> {
    let mut body = json!({
        "title": args.title,
        "description": args.description,
        "tags": args.tags,
        "classification": args.classification.as_str(),
        "personal_data": args.personal_data,
        "license": args.license,
        "price": {"amount": args.price, "currency": args.currency},
    });
    if !args.derived_from.is_empty() {
        let sources = args
            .derived_from
            .iter()
            .map(|s| source_ref(s))
            .collect::<Result<Vec<_>>>()?;
        set(&mut body, "derived_from", Some(Value::Array(sources)));
    }
    set(
        &mut body,
        "activity",
        args.activity.map(|name| json!({"name": name})),
    );
    let dataset = session.post("/datasets", Some(&body)).await?;
    let human = format!(
        "created dataset {} ({}): {}",
        dataset["id"].as_str().unwrap_or("?"),
        dataset["status"].as_str().unwrap_or("?"),
        dataset["title"].as_str().unwrap_or("")
    );
    Ok(Printed::new(dataset, human))
}

async fn edit(session: &Session, args: EditArgs) -> Result<Printed> {
    let mut body = Value::Object(Map::new());
    set(&mut body, "title", args.title.map(Value::from));
    set(&mut body, "description", args.description.map(Value::from));
    set(&mut body, "tags", args.tags.map(Value::from));
    set(
        &mut body,
        "classification",
        args.classification.map(|c| Value::from(c.as_str())),
    );
    set(
        &mut body,
        "personal_data",
        args.personal_data.map(Value::from),
    );
    set(&mut body, "license", args.license.map(Value::from));
    if let (Some(amount), Some(currency)) = (args.price, args.currency) {
        set(
            &mut body,
            "price",
            Some(json!({"amount": amount, "currency": currency})),
        );
    }
    if body.as_object().is_some_and(Map::is_empty) {
        return Err(Failure::usage(
            "nothing to change: give at least one option",
        ));
    }
    let dataset = session
        .patch(&format!("/datasets/{}", args.id), &body)
        .await?;
    let human = render::dataset(&dataset);
    Ok(Printed::new(dataset, human))
}

async fn versions(connection: &Connection, command: VersionsCommand) -> Result<Printed> {
    let session = Session::resolve(&connection.target())?;
    match command {
        VersionsCommand::Upload {
            dataset,
            file,
            media_type,
        } => {
            let media_type =
                media_type.unwrap_or_else(|| transfer::guess_media_type(&file).to_owned());
            let version = transfer::upload(&session, dataset, &file, &media_type).await?;
            let human = format!(
                "uploaded {}: {}",
                file.display(),
                render::version_line(&version)
            );
            Ok(Printed::new(version, human))
        }
        VersionsCommand::List { dataset } => {
            let list = session
                .get(&format!("/datasets/{dataset}/versions"), &[])
                .await?;
            let human = render::lines(&list, render::version_line, "no versions");
            Ok(Printed::new(list, human))
        }
    }
}

async fn requests(connection: &Connection, command: RequestsCommand) -> Result<Printed> {
    let session = Session::resolve(&connection.target())?;
    match command {
        RequestsCommand::Create(args) => request(&session, args).await,
        RequestsCommand::List {
            role,
            state,
            limit,
            cursor,
        } => {
            let page = session
                .get(
                    "/access-requests",
                    &query(vec![
                        ("role", role.map(spelled)),
                        ("state", state.map(spelled)),
                        ("limit", limit.map(|l| l.to_string())),
                        ("cursor", cursor),
                    ]),
                )
                .await?;
            let human = render::page(&page, "requests", render::request_line);
            Ok(Printed::new(page, human))
        }
        RequestsCommand::Show { id } => {
            let request = session.get(&format!("/access-requests/{id}"), &[]).await?;
            let human = render::request(&request);
            Ok(Printed::new(request, human))
        }
        RequestsCommand::Approve(args) => approve(&session, args).await,
        RequestsCommand::Reject { id, reason } => {
            let request = session
                .post(
                    &format!("/access-requests/{id}/reject"),
                    Some(&json!({"reason": reason})),
                )
                .await?;
            let human = format!(
                "request {id} is {}",
                request["state"].as_str().unwrap_or("?")
            );
            Ok(Printed::new(request, human))
        }
        RequestsCommand::Withdraw { id } => {
            let request = session
                .post(&format!("/access-requests/{id}/withdraw"), None)
                .await?;
            let human = format!(
                "request {id} is {}",
                request["state"].as_str().unwrap_or("?")
            );
            Ok(Printed::new(request, human))
        }
    }
}

async fn request(session: &Session, args: RequestArgs) -> Result<Printed> {
    let mut body = json!({
        "dataset": args.dataset,
        "duration_days": args.days,
        "max_downloads": args.downloads,
        "processing": args.processing,
        "cross_border": args.cross_border.is_some(),
    });
    set(&mut body, "purpose", args.purpose.map(Value::from));
    set(
        &mut body,
        "destination_country",
        args.cross_border.map(Value::from),
    );
    set(
        &mut body,
        "legal_basis",
        args.legal_basis.map(|b| Value::from(spelled(b))),
    );
    set(
        &mut body,
        "personal_information_subjects",
        args.subjects.map(Value::from),
    );
    set(&mut body, "message", args.message.map(Value::from));
    let request = session.post("/access-requests", Some(&body)).await?;
    let human = format!(
        "requested access to {}: request {} is {}",
        args.dataset,
        request["id"].as_str().unwrap_or("?"),
        request["state"].as_str().unwrap_or("?")
    );
    Ok(Printed::new(request, human))
}

async fn approve(session: &Session, args: ApproveArgs) -> Result<Printed> {
    let mut policy = Value::Object(Map::new());
    set(
        &mut policy,
        "max_downloads",
        args.max_downloads.map(Value::from),
    );
    set(&mut policy, "version", args.version.map(Value::from));
    set(&mut policy, "not_after", args.not_after.map(Value::from));
    set(&mut policy, "not_before", args.not_before.map(Value::from));
    if args.no_processing {
        set(&mut policy, "processing", Some(Value::from(false)));
    }
    let body = if policy.as_object().is_some_and(Map::is_empty) {
        json!({})
    } else {
        json!({"policy": policy})
    };
    let request = session
        .post(
            &format!("/access-requests/{}/approve", args.id),
            Some(&body),
        )
        .await?;
    let human = match request["grant"].as_str() {
        Some(grant) => format!(
            "request {} is {}; grant {grant}",
            args.id,
            request["state"].as_str().unwrap_or("?")
        ),
        None => format!(
            "request {} is {}",
            args.id,
            request["state"].as_str().unwrap_or("?")
        ),
    };
    Ok(Printed::new(request, human))
}

async fn grants(connection: &Connection, command: GrantsCommand) -> Result<Printed> {
    let session = Session::resolve(&connection.target())?;
    match command {
        GrantsCommand::List {
            role,
            limit,
            cursor,
        } => {
            let page = session
                .get(
                    "/grants",
                    &query(vec![
                        ("role", role.map(spelled)),
                        ("limit", limit.map(|l| l.to_string())),
                        ("cursor", cursor),
                    ]),
                )
                .await?;
            let human = render::page(&page, "grants", render::grant_line);
            Ok(Printed::new(page, human))
        }
        GrantsCommand::Show { id, policy: false } => {
            let grant = session.get(&format!("/grants/{id}"), &[]).await?;
            let human = render::grant(&grant);
            Ok(Printed::new(grant, human))
        }
        GrantsCommand::Show { id, policy: true } => {
            let policy = session.get(&format!("/grants/{id}/policy"), &[]).await?;
            let human = serde_json::to_string_pretty(&policy).unwrap_or_default();
            Ok(Printed::new(policy, human))
        }
        GrantsCommand::Revoke { id, reason } => {
            let grant = session
                .post(
                    &format!("/grants/{id}/revoke"),
                    Some(&json!({"reason": reason})),
                )
                .await?;
            let human = format!("grant {id} is {}", grant["status"].as_str().unwrap_or("?"));
            Ok(Printed::new(grant, human))
        }
        GrantsCommand::Token { id, version } => {
            let token = data_token(&session, id, version).await?;
            let human = token["access_token"].as_str().unwrap_or("").to_owned();
            if std::io::stderr().is_terminal() {
                eprintln!(
                    "data token for grant {id}, dataset {}, valid {} s",
                    token["dataset"].as_str().unwrap_or("?"),
                    token["expires_in"]
                );
            }
            Ok(Printed::new(token, human))
        }
    }
}

async fn data_token(session: &Session, grant: Uuid, version: Option<i32>) -> Result<Value> {
    let body = match version {
        Some(v) => json!({"version": v}),
        None => json!({}),
    };
    session
        .post(&format!("/grants/{grant}/tokens"), Some(&body))
        .await
}

async fn download(args: DownloadArgs) -> Result<Printed> {
    let session = Session::resolve(&args.connection.target())?;
    // `download --grant G FILE`: the one argument is the file.
    let (dataset, file) = match (args.dataset, args.file) {
        (Some(first), file) => match first.parse::<Uuid>() {
            Ok(id) => (Some(id), file),
            Err(_) if file.is_none() && args.grant.is_some() => (None, Some(first.into())),
            Err(_) => {
                return Err(Failure::usage(format!("{first:?} is not a dataset id")));
            }
        },
        (None, file) => (None, file),
    };
    let mut spec = transfer::Download {
        dataset: dataset.unwrap_or_default(),
        version: args.version,
        data_token: args.data_token,
        file,
    };
    if let Some(grant) = args.grant {
        let token = data_token(&session, grant, args.version).await?;
        spec.data_token = token["access_token"].as_str().map(str::to_owned);
        if dataset.is_none() {
            spec.dataset = token["dataset"]
                .as_str()
                .and_then(|d| d.parse().ok())
                .ok_or_else(|| Failure::other("the data token names no dataset"))?;
        }
        if spec.version.is_none() {
            spec.version = token["version"].as_i64().map(|v| v as i32);
        }
    }
    if spec.data_token.is_none() && session.token().is_none() {
        return Err(Failure::new(
            Kind::Auth,
            "no token to download with: log in, set DATAMARKET_TOKEN, or pass --data-token or --grant",
        ));
    }
    let done = transfer::download(&session, &spec).await?;
    let human = if done.resumed_from > 0 {
        format!(
            "{}: {} bytes (resumed at byte {}), sha256 {} verified",
            done.file.display(),
            done.size,
            done.resumed_from,
            done.sha256
        )
    } else {
        format!(
            "{}: {} bytes, sha256 {} verified",
            done.file.display(),
            done.size,
            done.sha256
        )
    };
    let json = serde_json::to_value(&done).map_err(|e| Failure::other(e.to_string()))?;
    Ok(Printed::new(json, human))
}

async fn rights(connection: &Connection, command: RightsCommand) -> Result<Printed> {
    let session = Session::resolve(&connection.target())?;
    match command {
        RightsCommand::Show { dataset } => {
            let rights = session
                .get(&format!("/datasets/{dataset}/rights"), &[])
                .await?;
            let human = render::rights(&rights);
            Ok(Printed::new(rights, human))
        }
        RightsCommand::Transfer {
            dataset,
            right,
            to,
            until,
            note,
        } => {
            let mut body = json!({"right": spelled(right), "to": to});
            set(&mut body, "until", until.map(Value::from));
            set(&mut body, "note", note.map(Value::from));
            let registered = session
                .post(
                    &format!("/datasets/{dataset}/rights/transfers"),
                    Some(&body),
                )
                .await?;
            let human = format!(
                "the {} right over {dataset} is now held by {} ({}); registration {}",
                registered["right"].as_str().unwrap_or("?"),
                registered["holder"].as_str().unwrap_or("?"),
                registered["origin"].as_str().unwrap_or("?"),
                registered["id"].as_str().unwrap_or("?"),
            );
            Ok(Printed::new(registered, human))
        }
        RightsCommand::Certificate { registration, save } => {
            let certificate = session
                .get(&format!("/rights/{registration}/certificate"), &[])
                .await?;
            let mut human = render::certificate(&certificate);
            if let Some(path) = save {
                let text = serde_json::to_string_pretty(&certificate)
                    .map_err(|e| Failure::other(e.to_string()))?;
                std::fs::write(&path, text)
                    .map_err(|e| Failure::other(format!("cannot write {}: {e}", path.display())))?;
                human.push_str(&format!(
                    "\nsaved to {}; check it offline with: datamarket certificate verify {} --jwks JWKS",
                    path.display(),
                    path.display()
                ));
            }
            Ok(Printed::new(certificate, human))
        }
    }
}

async fn lineage(args: LineageArgs) -> Result<Printed> {
    let session = Session::resolve(&args.connection.target())?;
    let graph = session
        .get(
            &format!("/datasets/{}/lineage", args.dataset),
            &query(vec![
                ("direction", args.direction.map(spelled)),
                ("depth", args.depth.map(|d| d.to_string())),
            ]),
        )
        .await?;
    let human = render::lineage(&graph);
    Ok(Printed::new(graph, human))
}
