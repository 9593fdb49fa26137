//! The portal over HTTP as a browser sends it: pages in both languages,
//! search in Chinese, a dataset's page with its versions and rights, and
//! the session: sign-in with a CSRF token, cookies with the right flags,
//! pages a visitor may not see refused, sign-out.

use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::support::*;

/// A page as a browser gets it, without following redirects.
struct Page {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Page {
    /// The value a `Set-Cookie` of the answer gives `name`, with the
    /// cookie's attributes.
    fn cookie(&self, name: &str) -> Option<(String, String)> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| {
                let (pair, attributes) = c.split_once(';').unwrap_or((c, ""));
                let (n, v) = pair.split_once('=')?;
                (n == name).then(|| (v.to_owned(), attributes.to_owned()))
            })
    }

    /// The CSRF field's value in the page's forms.
    fn csrf_field(&self) -> String {
        let at = self
            .text
            .find(r#"name="csrf" value=""#)
            .expect("a form with a CSRF field");
        let rest = &self.text[at + r#"name="csrf" value=""#.len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

struct Browser {
    client: reqwest::Client,
    base: String,
    language: &'static str,
    cookies: Vec<(String, String)>,
}

impl Browser {
    fn new(app: &TestApp, language: &'static str) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.base.clone(),
            language,
            cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Keeps what the answer set, forgets what it cleared.
    fn remember(&mut self, page: &Page) {
        for name in ["dm_session", "dm_csrf", "dm_lang"] {
            if let Some((value, attributes)) = page.cookie(name) {
                self.cookies.retain(|(n, _)| n != name);
                if !attributes.contains("Max-Age=0") {
                    self.cookies.push((name.to_owned(), value));
                }
            }
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let reply = self
            .client
            .get(format!("{}{path}", self.base))
            .header(header::ACCEPT_LANGUAGE, self.language)
            .header(header::COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.read(reply).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let reply = self
            .client
            .post(format!("{}{path}", self.base))
            .header(header::ACCEPT_LANGUAGE, self.language)
            .header(header::COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.read(reply).await
    }

    async fn read(&mut self, reply: reqwest::Response) -> Page {
        let page = Page {
            status: reply.status(),
            headers: reply.headers().clone(),
            text: reply.text().await.unwrap(),
        };
        self.remember(&page);
        page
    }

    /// Signs in through the form; the page the sign-in answered with.
    async fn sign_in(&mut self, user: &User) -> Page {
        let form = self.get("/login").await;
        let csrf = form.csrf_field();
        self.post(
            "/login",
            &[
                ("name", &user.name),
                ("password", PASSWORD),
                ("csrf", &csrf),
            ],
        )
        .await
    }
}

async fn catalog_case(app: TestApp) {
    let owner = app.provider("portal-owner").await;
    let listed = app.listed_dataset(&owner, "城市交通流量 2026").await;
    let draft = app.dataset(&owner, "Draft only", "general").await;

    // Chinese by default and for a Chinese browser; the stylesheet is the
    // binary's own.
    let mut zh = Browser::new(&app, "zh-CN,zh;q=0.9");
    let home = zh.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(
        home.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(home.text.contains(r#"<html lang="zh-CN">"#));
    assert!(home.text.contains("数据目录"));
    assert!(home.text.contains("城市交通流量 2026"));
    assert!(home.text.contains("¥99.00"));
    assert!(!home.text.contains("Draft only"));
    let policy = home.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(policy.contains("form-action 'self'") && policy.contains("script-src 'self'"));
    assert!(!policy.contains("unsafe-inline"));
    let (_, attributes) = home.cookie("dm_csrf").expect("a CSRF cookie");
    assert!(attributes.contains("HttpOnly") && attributes.contains("SameSite=Lax"));
    assert!(!attributes.contains("Secure"), "http here: {attributes}");
    let css = zh.get("/static/portal.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.text.contains("focus-visible"));

    // English for an English browser; a search by a Chinese word.
    let mut en = Browser::new(&app, "en-GB,en;q=0.8");
    let found = en.get("/?q=%E4%BA%A4%E9%80%9A").await;
    assert!(found.text.contains(r#"<html lang="en">"#));
    assert!(found.text.contains("Data catalog"));
    assert!(found.text.contains("城市交通流量 2026"));
    assert!(found.text.contains("CN¥99.00"));
    assert!(found.text.contains("One dataset on this page"));
    let none = en.get("/?q=nothing-like-this&classification=core").await;
    assert!(none.text.contains("No listed dataset matches."));

    // The switch keeps the page and stays on this site.
    let switched = en.get("/lang/zh-CN?back=%2F%3Fq%3Dtraffic").await;
    assert_eq!(switched.status, StatusCode::SEE_OTHER);
    assert_eq!(switched.headers[header::LOCATION], "/?q=traffic");
    assert_eq!(switched.cookie("dm_lang").unwrap().0, "zh-CN");
    assert!(en.get("/").await.text.contains(r#"<html lang="zh-CN">"#));
    for elsewhere in [
        "%2F%2Fevil.example%2F",
        "%2F%09%2Fevil.example",
        "%2F%5Cevil.example",
    ] {
        let away = en.get(&format!("/lang/en?back={elsewhere}")).await;
        assert_eq!(away.headers[header::LOCATION], "/", "{elsewhere}");
    }

    // Price bounds and orders, on the API and the page, paged by (price, id).
    for (title, fen) in [("Cheap feed", 100), ("Dear feed", 50_000)] {
        let id = app.dataset(&owner, title, "general").await;
        app.patch(
            &format!("/api/v1/datasets/{id}"),
            Some(&owner.token),
            serde_json::json!({"price": {"amount": fen, "currency": "CNY"}}),
        )
        .await
        .expect(200);
        app.upload(&owner, id, b"a\n1\n").await.expect(201);
        app.post(
            &format!("/api/v1/datasets/{id}/publish"),
            Some(&owner.token),
            serde_json::json!({}),
        )
        .await
        .expect(200);
    }
    let mut titles = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app
            .get(
                &format!("/api/v1/datasets?sort=price_asc&limit=1&cursor={cursor}"),
                None,
            )
            .await;
        page.expect(200);
        titles.push(page.body["items"][0]["title"].as_str().unwrap().to_owned());
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(titles, ["Cheap feed", "城市交通流量 2026", "Dear feed"]);
    let bounded = app
        .get("/api/v1/datasets?min_price=1000&max_price=10000", None)
        .await;
    bounded.expect(200);
    assert_eq!(bounded.body["items"].as_array().unwrap().len(), 1);
    app.get("/api/v1/datasets?min_price=5&max_price=4", None)
        .await
        .expect(400);
    app.get("/api/v1/datasets?sort=price_desc&cursor=nonsense", None)
        .await
        .expect(400);
    let dollars = app
        .get("/api/v1/datasets?currency=USD&min_price=0", None)
        .await;
    dollars.expect(200);
    assert_eq!(dollars.body["items"], serde_json::json!([]));
    app.get("/api/v1/datasets?currency=usd", None)
        .await
        .expect(400);
    let dear_first = en.get("/?sort=price_desc&min_price=1").await.text;
    let (dear, cheap) = (
        dear_first.find("Dear feed").unwrap(),
        dear_first.find("Cheap feed").unwrap(),
    );
    assert!(dear < cheap);
    assert!(en.get("/?max_price=50").await.text.contains("Cheap feed"));
    assert!(!en.get("/?max_price=50").await.text.contains("Dear feed"));
    let theirs = en.get(&format!("/?provider={}", owner.id)).await.text;
    assert!(theirs.contains("Dear feed") && theirs.contains("Cheap feed"));
    let nobody = en.get(&format!("/?provider={}", Uuid::new_v4())).await.text;
    assert!(nobody.contains("No listed dataset matches."));

    // A dataset's page: its versions with their digests, its rights.
    let page = zh.get(&format!("/catalog/{listed}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let digest = hex::encode(Sha256::digest(b"city,count\nbeijing,42\n"));
    assert!(page.text.contains(&digest));
    assert!(page.text.contains("数据资源持有权"));
    assert_eq!(
        page.text.matches("<td>有效</td>").count(),
        3,
        "three current certificates"
    );
    assert!(page.text.contains("22 字节"));
    // Its lineage, drawn: a product derived from it appears to its right,
    // and the product's page draws the source to its left.
    let product = app
        .derived_dataset(&owner, "交通拥堵指数", &[(listed, 1)])
        .await;
    let source_page = zh.get(&format!("/catalog/{listed}")).await.text;
    assert!(source_page.contains("数据血缘") && source_page.contains("交通拥堵指数"));
    assert!(source_page.contains(&format!(r#"href="/catalog/{product}""#)));
    let product_page = zh.get(&format!("/catalog/{product}")).await.text;
    assert!(product_page.contains(&format!(r#"href="/catalog/{listed}""#)));
    assert!(product_page.contains("<line "));
    // A draft is its holders'; a malformed id is nothing.
    assert_eq!(
        zh.get(&format!("/catalog/{draft}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        zh.get("/catalog/not-an-id").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        zh.get(&format!("/catalog/{}", Uuid::new_v4())).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn session_case(app: TestApp) {
    let owner = app.provider("portal-signin").await;
    let other = app.provider("portal-other").await;
    let draft = app.dataset(&owner, "Owner's draft", "general").await;
    let mut browser = Browser::new(&app, "en");

    // A form posted without its token, or with another, is refused.
    let form = browser.get("/login").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.text.contains(r#"<label for="password">"#));
    let csrf = form.csrf_field();
    let bare = browser
        .post("/login", &[("name", &owner.name), ("password", PASSWORD)])
        .await;
    assert_eq!(bare.status, StatusCode::FORBIDDEN);
    assert!(bare.text.contains("did not come from this site"));
    assert!(bare.cookie("dm_session").is_none());
    let forged = browser
        .post(
            "/login",
            &[
                ("name", &owner.name),
                ("password", PASSWORD),
                ("csrf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    // A wrong password is the API's refusal, in the page's words.
    let wrong = browser
        .post(
            "/login",
            &[
                ("name", &owner.name),
                ("password", "not the password"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.text.contains("The name or password is wrong."));
    assert!(wrong.text.contains(&format!(r#"value="{}""#, owner.name)));

    // Signed in: a session cookie scripts cannot read, a new CSRF token.
    let signed = browser.sign_in(&owner).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    assert_eq!(signed.headers[header::LOCATION], "/");
    let (_, attributes) = signed.cookie("dm_session").expect("a session");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=3600"] {
        assert!(attributes.contains(flag), "{flag} in {attributes}");
    }
    let rotated = signed.cookie("dm_csrf").expect("a new CSRF token").0;
    assert_ne!(rotated, csrf);
    let home = browser.get("/").await;
    assert!(home.text.contains("Signed in as portal-signin"));
    assert_eq!(
        browser.get(&format!("/catalog/{draft}")).await.status,
        StatusCode::OK
    );

    // Another provider's session does not see the draft.
    let mut stranger = Browser::new(&app, "en");
    stranger.sign_in(&other).await;
    assert_eq!(
        stranger.get(&format!("/catalog/{draft}")).await.status,
        StatusCode::NOT_FOUND
    );

    // Sign-out needs the token too; then the session is gone.
    let refused = browser.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let out = browser.post("/logout", &[("csrf", &rotated)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(out.cookie("dm_session").unwrap().1.contains("Max-Age=0"));
    assert!(browser.get("/").await.text.contains(r#"href="/login""#));
    assert_eq!(
        browser.get(&format!("/catalog/{draft}")).await.status,
        StatusCode::NOT_FOUND
    );

    // A session cookie that stands for nothing is cleared, the page served.
    let mut stale = Browser::new(&app, "en");
    stale
        .cookies
        .push(("dm_session".into(), "not-a-token".into()));
    let page = stale.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.cookie("dm_session").unwrap().1.contains("Max-Age=0"));

    // A suspended account's session ends at its next page.
    let admin = app
        .operator_account("portal-admin", &[datamarket::domain::Role::Admin])
        .await;
    let mut suspended = Browser::new(&app, "en");
    suspended.sign_in(&other).await;
    app.post(
        &format!("/api/v1/accounts/{}/suspend", other.id),
        Some(&admin.token),
        serde_json::json!({"reason": "portal test"}),
    )
    .await
    .expect(200);
    let after = suspended.get(&format!("/catalog/{draft}")).await;
    assert_eq!(after.status, StatusCode::NOT_FOUND);
    assert!(after.cookie("dm_session").unwrap().1.contains("Max-Age=0"));
}

/// Who may open which page and post which form: the rule book's answers,
/// as the API gives them, through the pages (a visitor who is not signed in
/// is sent to sign in).
async fn pages_case(app: TestApp) {
    let owner = app.provider("pages-owner").await;
    let consumer = app.consumer("pages-consumer").await;
    let regulator = app.regulator("pages-regulator").await;
    let auditor = app.auditor("pages-auditor").await;
    let listed = app.listed_dataset(&owner, "Pages listed").await;
    let draft = app.dataset(&owner, "Pages draft", "general").await;
    let asked = app
        .post(
            "/api/v1/access-requests",
            Some(&consumer.token),
            serde_json::json!({"dataset": listed, "purpose": "p", "duration_days": 1,
                               "max_downloads": 1, "processing": false, "cross_border": false}),
        )
        .await;
    asked.expect(201);
    let request = asked.id();

    let mut anonymous = Browser::new(&app, "en");
    let mut sessions = Vec::new();
    for user in [&owner, &consumer, &regulator, &auditor] {
        let mut browser = Browser::new(&app, "en");
        browser.sign_in(user).await;
        sessions.push(browser);
    }
    let [owner_s, consumer_s, regulator_s, auditor_s] = &mut sessions[..] else {
        unreachable!()
    };

    // Pages: (path, anonymous, owner, consumer, regulator, auditor).
    let pages: [(String, [u16; 5]); 14] = [
        (
            format!("/supervision/accounts/{}", consumer.id),
            [303, 200, 200, 200, 200],
        ),
        (
            format!("/supervision/accounts/{}", Uuid::new_v4()),
            [303, 404, 404, 404, 404],
        ),
        ("/supervision/alerts".into(), [303, 403, 403, 200, 200]),
        ("/supervision/freezes".into(), [303, 403, 403, 200, 200]),
        ("/supervision/statistics".into(), [303, 403, 403, 200, 200]),
        ("/audit/checkpoints".into(), [303, 200, 200, 200, 200]),
        ("/my/listings".into(), [303, 200, 200, 200, 200]),
        ("/my/requests".into(), [303, 200, 200, 200, 200]),
        ("/my/grants".into(), [303, 200, 200, 200, 200]),
        ("/review".into(), [303, 403, 403, 200, 200]),
        ("/audit".into(), [303, 403, 403, 200, 200]),
        ("/audit/0".into(), [303, 200, 404, 200, 200]),
        (
            "/audit?action=no.such.action".into(),
            [303, 403, 403, 400, 400],
        ),
        (format!("/catalog/{draft}"), [404, 200, 404, 200, 200]),
    ];
    for (path, expected) in &pages {
        let got = [
            anonymous.get(path).await.status.as_u16(),
            owner_s.get(path).await.status.as_u16(),
            consumer_s.get(path).await.status.as_u16(),
            regulator_s.get(path).await.status.as_u16(),
            auditor_s.get(path).await.status.as_u16(),
        ];
        assert_eq!(&got, expected, "{path}");
    }
    let incoming = owner_s.get("/my/requests").await;
    assert!(
        incoming
            .text
            .contains(&format!("/requests/{request}/approve"))
    );
    let login = anonymous.get("/my/listings").await;
    assert_eq!(login.headers[header::LOCATION], "/login");

    // Forms: each refused without its token, and by the rule book with it.
    let csrf = |b: &Browser| {
        b.cookies
            .iter()
            .find(|(n, _)| n == "dm_csrf")
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let token = csrf(consumer_s);
    let approve = format!("/requests/{request}/approve");
    assert_eq!(
        consumer_s.post(&approve, &[]).await.status,
        StatusCode::FORBIDDEN
    );
    let not_holder = consumer_s.post(&approve, &[("csrf", &token)]).await;
    assert_eq!(not_holder.status, StatusCode::FORBIDDEN);
    let review = format!("/review/listings/{listed}");
    let token = csrf(owner_s);
    let by_owner = owner_s
        .post(&review, &[("csrf", &token), ("decision", "approve")])
        .await;
    assert_eq!(by_owner.status, StatusCode::FORBIDDEN);
    assert!(by_owner.text.contains("regulator"));
    let token = csrf(regulator_s);
    let not_waiting = regulator_s
        .post(&review, &[("csrf", &token), ("decision", "approve")])
        .await;
    assert_eq!(not_waiting.status, StatusCode::CONFLICT);
    let token = csrf(consumer_s);
    let unlicensed = consumer_s
        .post(
            &format!("/catalog/{listed}/versions/1/download"),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(unlicensed.status, StatusCode::FORBIDDEN);
    let created = consumer_s
        .post(
            "/my/listings",
            &[
                ("csrf", &token),
                ("title", "t"),
                ("classification", "general"),
                ("license", "x"),
                ("price", "1"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::FORBIDDEN);
    let token = csrf(owner_s);
    let bad_price = owner_s
        .post(
            "/my/listings",
            &[
                ("csrf", &token),
                ("title", "t"),
                ("classification", "general"),
                ("license", "x"),
                ("price", "1.234"),
            ],
        )
        .await;
    assert_eq!(bad_price.status, StatusCode::UNPROCESSABLE_ENTITY);

    // A regulator verifies a participant through its page; a consumer may
    // not suspend anyone.
    let token = csrf(regulator_s);
    let participant = format!("/supervision/accounts/{}", consumer.id);
    let verified = regulator_s
        .post(
            &participant,
            &[("csrf", &token), ("act", "verify"), ("text", "file 9")],
        )
        .await;
    assert_eq!(verified.status, StatusCode::SEE_OTHER);
    let account = app
        .get(
            &format!("/api/v1/accounts/{}", consumer.id),
            Some(&regulator.token),
        )
        .await;
    assert_eq!(account.body["verification"]["reference"], "file 9");
    assert!(regulator_s.get(&participant).await.text.contains("file 9"));
    // A counterparty reads the summary: no reference, no forms to act.
    let summary = owner_s.get(&participant).await;
    assert_eq!(summary.status, StatusCode::OK);
    assert!(!summary.text.contains("file 9"));
    assert!(!summary.text.contains(r#"name="act""#));
    let token = csrf(consumer_s);
    let not_allowed = consumer_s
        .post(
            &format!("/supervision/accounts/{}", owner.id),
            &[("csrf", &token), ("act", "suspend"), ("text", "spite")],
        )
        .await;
    assert_eq!(not_allowed.status, StatusCode::FORBIDDEN);

    // The owner edits its draft through the page; no one else can.
    let token = csrf(owner_s);
    let form = [
        ("csrf", token.as_str()),
        ("title", "Pages draft, renamed"),
        ("description", "d"),
        ("tags", "交通, traffic"),
        ("classification", "general"),
        ("license", "CC-BY-4.0"),
        ("price", "12.50"),
    ];
    let edited = owner_s
        .post(&format!("/my/listings/{draft}/edit"), &form)
        .await;
    assert_eq!(edited.status, StatusCode::SEE_OTHER);
    let now = app
        .get(&format!("/api/v1/datasets/{draft}"), Some(&owner.token))
        .await;
    assert_eq!(now.body["title"], "Pages draft, renamed");
    assert_eq!(now.body["price"]["amount"], 1250);
    assert_eq!(now.body["tags"], serde_json::json!(["交通", "traffic"]));
    let mut theirs = form;
    let consumer_token = csrf(consumer_s);
    theirs[0] = ("csrf", consumer_token.as_str());
    let refused = consumer_s
        .post(&format!("/my/listings/{draft}/edit"), &theirs)
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);

    // A regulator freezes the listing through the page, and lifts it.
    let token = csrf(regulator_s);
    let frozen = regulator_s
        .post(
            "/supervision/freezes",
            &[
                ("csrf", &token),
                ("scope", "dataset"),
                ("target", &listed.to_string()),
                ("reason", "inspection"),
            ],
        )
        .await;
    assert_eq!(frozen.status, StatusCode::SEE_OTHER);
    let freezes = regulator_s.get("/supervision/freezes").await;
    assert!(freezes.text.contains(&listed.to_string()));
    let in_force = app
        .get("/api/v1/supervision/freezes", Some(&regulator.token))
        .await;
    let freeze = in_force.body[0]["id"].as_str().unwrap().to_owned();
    let by_owner_token = csrf(owner_s);
    let lift_path = format!("/supervision/freezes/{freeze}/lift");
    let not_regulator = owner_s
        .post(&lift_path, &[("csrf", &by_owner_token), ("reason", "mine")])
        .await;
    assert_eq!(not_regulator.status, StatusCode::FORBIDDEN);
    let lifted = regulator_s
        .post(&lift_path, &[("csrf", &token), ("reason", "inspected")])
        .await;
    assert_eq!(lifted.status, StatusCode::SEE_OTHER);
    let after = app
        .get("/api/v1/supervision/freezes", Some(&regulator.token))
        .await;
    assert_eq!(after.body, serde_json::json!([]));
    let checkpoints = consumer_s.get("/audit/checkpoints").await;
    assert!(checkpoints.text.contains("— datamarket"));

    // The owner approves through the page; the request is approved.
    let approved = owner_s.post(&approve, &[("csrf", &by_owner_token)]).await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER);
    let state = app
        .get(
            &format!("/api/v1/access-requests/{request}"),
            Some(&consumer.token),
        )
        .await;
    assert_eq!(state.body["state"], "approved");
    // The consumer downloads through the page: the payload, an attachment.
    let token = csrf(consumer_s);
    let download = consumer_s
        .post(
            &format!("/catalog/{listed}/versions/1/download"),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(download.status, StatusCode::OK);
    assert!(
        download.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert_eq!(download.text, "city,count\nbeijing,42\n");

    // Buying through the page: an instant offer, paid from the wallet,
    // settled; the same form sent twice buys once.
    let offer = app
        .post(
            &format!("/api/v1/datasets/{listed}/offers"),
            Some(&owner.token),
            serde_json::json!({"plan": "one_off", "price": {"amount": 9900, "currency": "CNY"},
                               "max_downloads": 5, "processing": false, "instant": true}),
        )
        .await;
    offer.expect(201);
    datamarket::trading::operator_credit(&app.market, consumer.id, 10_000, "CNY", "bank-portal")
        .await
        .expect("credit");
    let shown = consumer_s.get(&format!("/catalog/{listed}")).await;
    assert!(shown.text.contains(&format!("/offers/{}/buy", offer.id())));
    assert!(shown.text.contains("CN¥99.00"));
    let token = csrf(consumer_s);
    let buy = format!("/offers/{}/buy", offer.id());
    let form = [
        ("csrf", token.as_str()),
        ("version", "1"),
        ("key", "portal-buy-1"),
    ];
    for _ in 0..2 {
        let bought = consumer_s.post(&buy, &form).await;
        assert_eq!(bought.status, StatusCode::SEE_OTHER);
        assert_eq!(bought.headers[header::LOCATION], "/my/orders");
    }
    let orders = app
        .get("/api/v1/orders?role=bought", Some(&consumer.token))
        .await;
    assert_eq!(orders.body["items"].as_array().unwrap().len(), 1);
    assert!(consumer_s.get("/my/orders").await.text.contains("Settled"));
    let wallet = consumer_s.get("/my/wallet").await;
    assert!(wallet.text.contains("CN¥1.00"), "10,000 less 9,900 fen");
    let revenue = owner_s.get("/my/wallet").await;
    assert!(
        revenue.text.contains("CN¥94.05"),
        "the price less the 5% fee"
    );
    assert!(revenue.text.contains("<rect"));
    // Not enough money: the order is refused with the API's 409.
    let poor = consumer_s
        .post(
            &buy,
            &[
                ("csrf", token.as_str()),
                ("version", "1"),
                ("key", "portal-buy-2"),
            ],
        )
        .await;
    assert_eq!(poor.status, StatusCode::CONFLICT);
    assert!(
        poor.text.contains("does not hold 9900 CNY"),
        "{}",
        poor.text
    );
}

both_backends! {
    async fn pages_refuse_who_may_not_see_or_act(app: TestApp) {
        pages_case(app).await
    }

    async fn the_portal_shows_the_catalog_in_both_languages(app: TestApp) {
        catalog_case(app).await
    }

    async fn a_session_is_signed_in_with_its_csrf_token_and_signed_out(app: TestApp) {
        session_case(app).await
    }
}
