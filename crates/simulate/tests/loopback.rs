//! Actors against a scripted server on loopback: each guard response of the
//! contract (docs/guard.md) and the actors' reactions to it, end to end
//! through the simulator's own client: the challenge form and its cookie,
//! `Retry-After`, pay per crawl with a verifiable Web Bot Auth signature,
//! blocks, and `X-Forwarded-For` carrying the simulated address.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, Response, StatusCode};
use axum::response::IntoResponse;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::Verifier as _;
use tollgate_simulate::actor::{ActorStats, Run, run_actor};
use tollgate_simulate::client::{Client, ClientError};
use tollgate_simulate::plan::{self, ActorPlan, Class, Keys, Mix, Plan, Platform};
use tollgate_simulate::sign::signature_base;

/// What the scripted server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: HeaderMap,
    body: String,
}

type Script = Arc<dyn Fn(&Seen, &[Seen]) -> Response<Body> + Send + Sync>;

/// Serves `script` on loopback; returns its address and what it saw.
async fn serve(script: Script) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::<Seen>::new()));
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |request: Request| {
        let (script, log) = (script.clone(), log.clone());
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
            let seen = Seen {
                method: parts.method.to_string(),
                path: parts.uri.to_string(),
                headers: parts.headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            };
            let before = log.lock().unwrap().clone();
            log.lock().unwrap().push(seen.clone());
            script(&seen, &before)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, seen)
}

fn page(id: u64) -> Response<Body> {
    let html = format!(r#"<html><article data-post-id="{id}"><a href="/user0/status/{id}">now</a></article></html>"#);
    ([("content-type", "text/html; charset=utf-8")], html).into_response()
}

fn guard(status: StatusCode, action: &str, extra: &[(&'static str, String)], body: String) -> Response<Body> {
    let mut r = (status, body).into_response();
    r.headers_mut().insert("tollgate-guard", action.parse().unwrap());
    for (k, v) in extra {
        r.headers_mut().append(*k, v.parse().unwrap());
    }
    r
}

fn challenge(ret: &str) -> Response<Body> {
    let form = format!(
        r#"<form method="post" action="/_tg/challenge"><input type="hidden" name="token" value="tok+1"><input type="hidden" name="return" value="{ret}"><button type="submit">Continue</button></form>"#
    );
    guard(StatusCode::FORBIDDEN, "challenge", &[("content-type", "text/html; charset=utf-8".into())], form)
}

/// One actor of the plan of class `class`, with its intents replaced.
fn actor(class: Class, intents: &[&str]) -> ActorPlan {
    let plan = Plan::new(11, &Mix::standard(), &Platform::synthetic(4, 4), &Keys::default(), 0);
    let mut a = plan.actors.into_iter().find(|a| a.class == class).unwrap();
    a.intents = intents.iter().map(|s| s.to_string()).collect();
    a.pace_ms = 0;
    a.patience = 2;
    a
}

async fn run(addr: SocketAddr, actor: ActorPlan) -> ActorStats {
    let client = Client::new(addr, 4, Duration::from_secs(10)).unwrap();
    let robots =
        "User-agent: GPTBot\nUser-agent: Bytespider\nDisallow: /\n\nUser-agent: *\nAllow: /\nDisallow: /_tg/\n"
            .to_owned();
    run_actor(actor, Run::new(client, Duration::from_secs(30), 1000, robots)).await
}

/// Challenges anyone without the pass cookie; the form sets it.
fn challenge_script() -> Script {
    Arc::new(|req, _| {
        if req.method == "POST" && req.path == "/_tg/challenge" {
            let ok = req.body.contains("token=tok%2B1") && req.body.contains("return=%2Fuser0%2Fstatus%2F7");
            if !ok {
                return StatusCode::BAD_REQUEST.into_response();
            }
            let mut r = StatusCode::SEE_OTHER.into_response();
            r.headers_mut().insert("location", "/user0/status/7".parse().unwrap());
            r.headers_mut()
                .insert("set-cookie", "tg_pass=p1; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600".parse().unwrap());
            return r;
        }
        let cookie = req.headers.get("cookie").and_then(|c| c.to_str().ok()).unwrap_or("");
        if cookie.contains("tg_pass=p1") { page(7) } else { challenge(&req.path) }
    })
}

#[tokio::test]
async fn people_pass_a_challenge_by_submitting_the_form_and_keep_the_cookie() {
    let (addr, seen) = serve(challenge_script()).await;
    let stats = run(addr, actor(Class::PeopleNojs, &["/user0/status/7", "/user0/status/7"])).await;
    assert_eq!(stats.posts, BTreeSet::from([7]));
    assert_eq!((stats.challenged, stats.submitted, stats.content), (1, 1, 2), "{stats:?}");
    let seen = seen.lock().unwrap();
    // GET (challenged), POST the form, GET again with the pass, the next GET
    // with the kept cookie and no challenge.
    let methods: Vec<&str> = seen.iter().map(|s| s.method.as_str()).collect();
    assert_eq!(methods, ["GET", "POST", "GET", "GET"]);
    assert_eq!(seen[1].headers["content-type"], "application/x-www-form-urlencoded");
    // Every request carries the person's one simulated address.
    let xff: BTreeSet<&str> = seen.iter().map(|s| s.headers["x-forwarded-for"].to_str().unwrap()).collect();
    assert_eq!(xff.len(), 1);
    assert!(!xff.iter().next().unwrap().starts_with("127."));
}

#[tokio::test]
async fn headless_fleets_pass_challenges_but_start_each_page_without_cookies() {
    let (addr, seen) = serve(challenge_script()).await;
    let stats = run(addr, actor(Class::HeadlessFleet, &["/user0/status/7", "/user0/status/7"])).await;
    assert_eq!((stats.challenged, stats.submitted, stats.content), (2, 2, 2), "{stats:?}");
    assert_eq!(seen.lock().unwrap().len(), 6);
}

#[tokio::test]
async fn stealth_scrapers_never_submit_a_challenge_and_stop() {
    let (addr, seen) = serve(challenge_script()).await;
    let stats = run(addr, actor(Class::StealthDc, &["/user0/status/7"; 5])).await;
    assert!(stats.posts.is_empty());
    assert_eq!((stats.challenged, stats.submitted, stats.end.as_str()), (2, 0, "stopped"), "{stats:?}");
    assert!(stats.stopped_after_ms.is_some());
    assert!(seen.lock().unwrap().iter().all(|s| s.method == "GET" && !s.headers.contains_key("cookie")));
}

#[tokio::test]
async fn throttled_actors_wait_as_told_then_are_served() {
    let script: Script = Arc::new(|_, before| {
        if before.is_empty() {
            guard(StatusCode::TOO_MANY_REQUESTS, "throttle", &[("retry-after", "1".into())], String::new())
        } else {
            page(3)
        }
    });
    let (addr, seen) = serve(script).await;
    let stats = run(addr, actor(Class::PeopleHome, &["/user0/status/3"])).await;
    assert_eq!((stats.throttled, stats.content, stats.requests), (1, 1, 2), "{stats:?}");
    assert_eq!(seen.lock().unwrap().len(), 2);
}

/// 402 unless the request carries a valid signature of one of the crawlers
/// file's keys and offers the price; then served and charged.
fn pay_per_crawl_script(authority: Arc<Mutex<String>>) -> Script {
    let keys = plan::crawlers(11).into_iter().flat_map(|c| c.keys).collect::<Vec<_>>();
    Arc::new(move |req, _| {
        if req.path == "/robots.txt" {
            return "User-agent: *\nAllow: /\n".into_response();
        }
        let h = |n: &str| req.headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let verified = (|| {
            let params = h("signature-input").strip_prefix("sig1=")?.to_owned();
            let sig = h("signature");
            let sig = STANDARD.decode(sig.strip_prefix("sig1=:")?.strip_suffix(':')?).ok()?;
            let sig = ed25519_dalek::Signature::from_slice(&sig).ok()?;
            let base = signature_base(&authority.lock().unwrap(), &h("signature-agent"), &params);
            keys.iter()
                .any(|x| {
                    let x: [u8; 32] = URL_SAFE_NO_PAD.decode(x).unwrap().try_into().unwrap();
                    ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap().verify(base.as_bytes(), &sig).is_ok()
                })
                .then_some(())
        })()
        .is_some();
        if verified && h("crawler-exact-price") == "USD 0.01" {
            let mut r = page(9);
            r.headers_mut().insert("crawler-charged", "USD 0.01".parse().unwrap());
            return r;
        }
        guard(
            StatusCode::PAYMENT_REQUIRED,
            "license",
            &[("crawler-price", "USD 0.01".into()), ("link", "</license.xml>; rel=\"license\"".into())],
            "see /license.xml".into(),
        )
    })
}

#[tokio::test]
async fn a_signing_crawler_pays_per_crawl_and_its_impersonator_cannot() {
    let authority = Arc::new(Mutex::new(String::new()));
    let (addr, _) = serve(pay_per_crawl_script(authority.clone())).await;
    *authority.lock().unwrap() = addr.to_string();
    // A search crawler proving itself by signature from outside its range.
    let mut crawler = actor(Class::SearchVerified, &["/user0/status/9"]);
    assert_eq!(plan::crawlers(11)[0].keys.len(), 4);
    crawler.addresses = vec!["34.64.0.9".parse().unwrap()];
    crawler.bot_key = Some(
        Plan::new(11, &Mix::standard(), &Platform::synthetic(4, 4), &Keys::default(), 0)
            .actors
            .iter()
            .find_map(|a| a.bot_key.filter(|_| a.class == Class::SearchVerified))
            .expect("some search crawler of the plan signs"),
    );
    let stats = run(addr, crawler).await;
    assert_eq!((stats.licensed, stats.paid, stats.posts.len(), stats.requests), (1, 1, 1, 3), "{stats:?}");

    let impostor = run(addr, actor(Class::SearchImpersonator, &["/user0/status/9"; 3])).await;
    assert_eq!((impostor.licensed, impostor.paid, impostor.posts.len()), (2, 0, 0), "{impostor:?}");
    assert_eq!(impostor.end, "stopped");
}

#[tokio::test]
async fn an_honest_ai_crawler_keeps_to_robots_txt_and_one_that_ignores_it_disguises_itself() {
    let script: Script = Arc::new(|req, _| {
        if req.path == "/robots.txt" {
            return "User-agent: GPTBot\nAllow: /robots.txt\nDisallow: /\n\nUser-agent: *\nAllow: /\n".into_response();
        }
        let ua = req.headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or("");
        if ua.contains("Bytespider") {
            guard(StatusCode::FORBIDDEN, "block", &[], "see /license.xml".into())
        } else {
            page(5)
        }
    });
    let (addr, seen) = serve(script).await;
    let honest = run(addr, actor(Class::AiHonest, &["/user0", "/user0/status/5"])).await;
    assert_eq!((honest.requests, honest.posts.len()), (1, 0), "only robots.txt: {honest:?}");
    assert_eq!(seen.lock().unwrap()[0].path, "/robots.txt");

    let ignoring = run(addr, actor(Class::AiIgnoring, &["/user0/status/5"])).await;
    // Blocked as itself, served in disguise: a post on a path robots.txt
    // disallows for it, which the report counts.
    assert_eq!((ignoring.blocked, ignoring.content), (1, 1), "{ignoring:?}");
    assert_eq!(ignoring.user_agents.len(), 2);
    assert_eq!(ignoring.disallowed_posts, BTreeSet::from([5]));
}

#[tokio::test]
async fn the_client_refuses_anything_but_loopback() {
    let err = Client::new("192.0.2.1:80".parse().unwrap(), 1, Duration::from_secs(1)).unwrap_err();
    assert!(matches!(err, ClientError::NotLoopback(_)), "{err}");
}

#[tokio::test]
async fn a_whole_run_reports_per_class_and_writes_what_each_actor_sent() {
    // Serves every permalink; blocks every request from a hosting network.
    let script: Script = Arc::new(|req, _| {
        if req.path == "/robots.txt" {
            // The observer's one request, from the simulator itself.
            assert!(!req.headers.contains_key("x-forwarded-for"));
            return "User-agent: *\nAllow: /\n".into_response();
        }
        let xff: std::net::Ipv4Addr = req.headers["x-forwarded-for"].to_str().unwrap().parse().unwrap();
        if tollgate_simulate::net::HOSTING.iter().any(|n| n.contains(xff)) {
            return guard(StatusCode::FORBIDDEN, "block", &[], "see /license.xml".into());
        }
        let id = req.path.rsplit('/').next().and_then(|s| s.parse().ok()).unwrap_or(0);
        page(id)
    });
    let (addr, _) = serve(script).await;
    let mut mix = Mix::standard();
    for params in mix.classes.values_mut() {
        params.count = 0;
    }
    mix.set_counts("people-home=2,stealth-dc=1").unwrap();
    for params in mix.classes.values_mut() {
        params.pace_ms = 0;
        params.requests = 6;
    }
    mix.classes.get_mut(&Class::StealthDc).unwrap().patience = 3;
    let plan = Plan::new(5, &mix, &Platform::synthetic(3, 5), &Keys::default(), 0);
    let options = tollgate_simulate::Options {
        target: addr,
        connections: 4,
        duration: Duration::from_secs(30),
        max_requests: 1000,
        timeout: Duration::from_secs(5),
    };
    let (stats, report) = tollgate_simulate::simulate(&plan, &mix, &options).await.unwrap();
    let classes: Vec<&str> = report.classes.iter().map(|c| c.class.as_str()).collect();
    assert_eq!(classes, ["people-home", "stealth-dc"]);
    let people = &report.classes[0];
    assert_eq!((people.actors, people.requests, people.blocked), (2, 12, 0));
    assert!(people.posts > 0 && people.targets.iter().all(|t| t.met && t.measured), "{people:?}");
    let stealth = &report.classes[1];
    assert_eq!((stealth.posts, stealth.blocked, stealth.stopped), (0, 3, 1), "{stealth:?}");
    assert!(stealth.targets[0].met && stealth.time_to_stop_ms_max.is_some());
    assert_eq!(report.requests, 15);
    let evidence = serde_json::to_value(tollgate_simulate::report::evidence(5, addr.to_string(), &stats)).unwrap();
    let actors = evidence["actors"].as_array().unwrap();
    assert_eq!(actors.len(), 3);
    assert_eq!(actors[2]["label"], "stealth-dc#0");
    assert_eq!(actors[2]["requests"], 3);
    let sent: Vec<String> = plan.actors[2].addresses.iter().take(3).map(|a| a.to_string()).collect();
    let recorded: Vec<String> =
        actors[2]["addresses"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect();
    assert!(recorded.iter().all(|a| sent.contains(a)) && !recorded.is_empty());
}
