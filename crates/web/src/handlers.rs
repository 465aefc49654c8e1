//! The handlers: sign-in, the page, its three forms, sign-out.
//!
//! Every POST is checked in one order before anything is read from its body
//! or changed: the request's origin (`Origin`, `Sec-Fetch-Site`), the
//! session, the CSRF token. A refused request changes nothing, and so does
//! an invalid form: it is answered with the page and the errors, status 400.
//! A change is answered with a redirect (303) to the page, which says what
//! changed: reloading it sends nothing again.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tollgate_domain::{Category, PreferenceChange, Scope, Timestamp, Tri};

use crate::WebState;
use crate::page::{self, FieldError, PostsForm, Status, View};
use crate::session::{self, COOKIE, Session};

/// The security headers of every page: nothing cached or framed, no script
/// at all, and no referrer to other sites. Not `no-referrer`: with it a
/// browser sends `Origin: null` on the page's own form posts, which
/// `same_origin` must refuse. The sign-in URL, which holds a token, sends no
/// referrer at all (`redirect`), and is never a page.
const CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The largest form body read: the forms are a few hundred bytes.
const MAX_FORM_BYTES: usize = 16 << 10;

fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    response
}

fn redirect(to: &str, cookie: Option<String>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let h = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(to) {
        h.insert(header::LOCATION, location);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.insert(header::SET_COOKIE, c);
    }
    response
}

fn error_page(status: StatusCode, title: &str, message: &str, next: &str) -> Response {
    html(status, page::message(title, message, next))
}

fn failed(what: &str, e: impl std::fmt::Display) -> Response {
    tracing::error!("settings page: {what}: {e}");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The server could not answer this request. Nothing was changed. Please try again in a moment.",
        "",
    )
}

fn now() -> i64 {
    Timestamp::now().seconds()
}

/// The session the request's cookie holds, if valid and not signed out.
fn session(state: &WebState, headers: &HeaderMap) -> Option<Session> {
    let cookies = headers.get_all(header::COOKIE);
    let value = cookies.iter().filter_map(|v| v.to_str().ok()).find_map(|h| session::cookie_value(h, COOKIE))?;
    let s = state.config.session_key.check(value, now())?;
    (!state.signed_out.contains(&s)).then_some(s)
}

fn set_cookie(state: &WebState, value: &str, max_age: i64) -> String {
    format!(
        "{COOKIE}={value}; Path=/settings; Max-Age={max_age}; HttpOnly; SameSite=Lax{}",
        if state.config.secure_cookie { "; Secure" } else { "" }
    )
}

fn not_signed_in() -> Response {
    error_page(
        StatusCode::UNAUTHORIZED,
        "You are not signed in",
        "Your session has ended or you have not signed in yet. Nothing was changed.",
        page::SIGN_IN_AGAIN,
    )
}

fn forbidden(why: &str) -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "This request was refused",
        &format!("{why} Nothing was changed."),
        "<p><a href=\"/settings\">Go back to your settings</a> and send the form from there.</p>\n",
    )
}

/// Whether a POST comes from this server's own pages: a browser says where a
/// request comes from in `Sec-Fetch-Site` and `Origin`; when it says, it
/// must be this origin.
fn same_origin(state: &WebState, headers: &HeaderMap) -> bool {
    let text = |name: header::HeaderName| headers.get(name).map(|v| v.to_str().unwrap_or("\u{0}"));
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site"))
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    if let Some(origin) = text(header::ORIGIN) {
        let public = state.config.public_url.trim_end_matches('/');
        let host = text(header::HOST);
        let authority = origin.split_once("://").map(|(_, a)| a);
        return origin == public || (authority.is_some() && authority == host);
    }
    true
}

/// The fields of a form body, each at most once.
fn form_fields(body: &[u8]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(body) {
        if out.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(format!("The form sent `{}` more than once.", k.chars().take(40).collect::<String>()));
        }
    }
    Ok(out)
}

/// Why a POST was refused before its form was read.
#[derive(Debug)]
enum Refused {
    Origin,
    NotSignedIn,
    Form(String),
    Csrf,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::Origin => forbidden("The form was not sent from this site's settings page."),
            Refused::NotSignedIn => not_signed_in(),
            Refused::Form(why) => bad_request(&why),
            Refused::Csrf => forbidden(
                "The form's security token is missing or belongs to another session (it may be from an old tab).",
            ),
        }
    }
}

/// The checks every POST passes before its form is read: origin, session,
/// CSRF token. Returns the session and the form's fields (without `csrf`).
fn admit(state: &WebState, headers: &HeaderMap, body: &[u8]) -> Result<(Session, BTreeMap<String, String>), Refused> {
    if !same_origin(state, headers) {
        return Err(Refused::Origin);
    }
    let session = session(state, headers).ok_or(Refused::NotSignedIn)?;
    if body.len() > MAX_FORM_BYTES {
        return Err(Refused::Form("The form is larger than any form of this page.".into()));
    }
    let mut fields = form_fields(body).map_err(Refused::Form)?;
    let token = fields.remove("csrf").unwrap_or_default();
    // INVARIANT (csrf-checked): no POST changes anything without its session's CSRF token.
    if !state.config.session_key.csrf_holds(&session, &token) {
        return Err(Refused::Csrf);
    }
    Ok((session, fields))
}

fn bad_request(why: &str) -> Response {
    error_page(
        StatusCode::BAD_REQUEST,
        "The form could not be read",
        &format!("{why} Nothing was changed."),
        "<p><a href=\"/settings\">Go back to your settings</a>.</p>\n",
    )
}

/// `GET /settings/sign-in?token=JWT`: verifies the token, begins a session.
pub async fn sign_in(State(state): State<Arc<WebState>>, RawQuery(query): RawQuery) -> Response {
    let token = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let claims = match crate::jwt::verify(&token, &state.config.keys, &state.config.expect, now()) {
        Ok(claims) => claims,
        Err(e) => {
            tracing::info!(target: "tollgate::settings", "a sign-in token was refused: {e}");
            let message = format!("{}. You are not signed in, and nothing was changed.", capital(&e.to_string()));
            return error_page(
                StatusCode::UNAUTHORIZED,
                "This sign-in link does not work",
                &message,
                page::SIGN_IN_AGAIN,
            );
        }
    };
    let store = state.store.clone();
    match tollgate_cache::offload(|| store.account(claims.account)) {
        Ok(Some(_)) => {}
        Ok(None) => {
            return error_page(
                StatusCode::UNAUTHORIZED,
                "This sign-in link does not work",
                "The link names an account this server does not know. You are not signed in.",
                page::SIGN_IN_AGAIN,
            );
        }
        Err(e) => return failed("reading the account signing in", e),
    }
    let expires = now() + state.config.session_secs;
    match state.config.session_key.begin(claims.account, expires) {
        Ok(s) => redirect("/settings?status=signed-in", Some(set_cookie(&state, &s.cookie, state.config.session_secs))),
        Err(e) => failed("drawing a session nonce", e),
    }
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// `GET /settings`: the page, or how to sign in.
pub async fn home(State(state): State<Arc<WebState>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let Some(session) = session(&state, &headers) else { return not_signed_in() };
    let status = status_of(query.as_deref().unwrap_or(""));
    render(&state, &session, StatusCode::OK, status, &[], &PostsForm::default()).await
}

/// The status message a redirect asked for; anything else shows none.
fn status_of(query: &str) -> Option<Status> {
    let q: BTreeMap<String, String> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    match q.get("status").map(String::as_str) {
        Some("signed-in") => Some(Status::SignedIn),
        Some("saved") => Some(Status::Saved),
        Some("unchanged") => Some(Status::Unchanged),
        Some("posts") => Some(Status::Posts {
            changed: q.get("changed").and_then(|c| c.parse().ok())?,
            no_ai: q.get("no_ai").map(String::as_str) != Some("false"),
        }),
        _ => None,
    }
}

/// Reads what the page shows and renders it.
async fn render(
    state: &Arc<WebState>,
    session: &Session,
    code: StatusCode,
    status: Option<Status>,
    errors: &[FieldError],
    form: &PostsForm,
) -> Response {
    let account = match tollgate_cache::offload(|| state.store.account(session.account)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            return error_page(
                StatusCode::NOT_FOUND,
                "Your account was not found",
                "The account this session belongs to no longer exists on this server.",
                "",
            );
        }
        Err(e) => return failed("reading the account", e),
    };
    let apps = match tollgate_cache::offload(|| state.store.apps()) {
        Ok(apps) => apps,
        Err(e) => return failed("reading the apps", e),
    };
    let ledger = state.ledger_db.clone();
    let id = account.id;
    let apps_for_requests = apps.clone();
    let report = match tokio::task::spawn_blocking(move || crate::report::recipients(&ledger, &apps, id)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return failed("asking the ledger who received the posts", e),
        Err(e) => return failed("the ledger question's task", e),
    };
    let requests = match tollgate_cache::offload(|| {
        crate::report::requests(state.store.as_ref(), &apps_for_requests, id, Timestamp::now())
    }) {
        Ok(r) => r,
        Err(e) => return failed("reading the requests sent to apps", e),
    };
    let csrf = state.config.session_key.csrf(session);
    let view = View {
        account: &account,
        defaults: &state.defaults,
        now: Timestamp::now(),
        csrf: &csrf,
        status,
        errors,
        form,
        report: &report,
        requests: &requests,
    };
    html(code, page::settings(&view))
}

/// `POST /settings/preferences`: the six choices, applied where they differ
/// from what the page showed.
pub async fn preferences(State(state): State<Arc<WebState>>, headers: HeaderMap, body: Bytes) -> Response {
    let (session, mut fields) = match admit(&state, &headers, &body) {
        Ok(admitted) => admitted,
        Err(refused) => return refused.into_response(),
    };
    let changes = match preference_changes(&mut fields) {
        Ok(changes) => changes,
        Err(why) => return bad_request(&why),
    };
    if changes.is_empty() {
        return redirect("/settings?status=unchanged", None);
    }
    // INVARIANT (consent-read-modify-write): the store applies the changes
    // to the stored preferences in one write transaction; only the choices
    // the person changed on the page are sent, so a concurrent change of
    // another choice is kept.
    match tollgate_cache::offload(|| state.store.set_preferences(session.account, &changes, Timestamp::now())) {
        Ok(Some(_)) => redirect("/settings?status=saved", None),
        Ok(None) => error_page(StatusCode::NOT_FOUND, "Your account was not found", "Nothing was changed.", ""),
        Err(e) => failed("saving preferences", e),
    }
}

/// The changes a preferences form asks for: each choice that differs from
/// the one the page showed (`shown`, six values in the page's order).
fn preference_changes(fields: &mut BTreeMap<String, String>) -> Result<Vec<PreferenceChange>, String> {
    let shown = fields.remove("shown").ok_or("The form lacks the preferences it was shown with.")?;
    let shown: Vec<Tri> = shown
        .split(',')
        .map(|v| v.parse::<Tri>())
        .collect::<Result<_, _>>()
        .map_err(|_| "The form's record of the preferences it showed is not valid.".to_owned())?;
    if shown.len() != 6 {
        return Err("The form's record of the preferences it showed is not valid.".into());
    }
    let mut changes = Vec::new();
    for (i, (category, scope)) in Category::ALL.iter().flat_map(|c| Scope::ALL.map(|s| (*c, s))).enumerate() {
        let Some(raw) = fields.remove(&page::field_name(category, scope)) else { continue };
        let value: Tri = raw.parse().map_err(|_| {
            format!(
                "`{}` is not a choice for {} {}: choose allow, deny or platform default.",
                raw.chars().take(40).collect::<String>(),
                page::category_label(category),
                page::scope_label(scope)
            )
        })?;
        if value != shown[i] {
            changes.push(PreferenceChange { category, scope, value });
        }
    }
    if let Some(unknown) = fields.keys().next() {
        return Err(format!(
            "The form sent `{}`, which is not a field of this page.",
            unknown.chars().take(40).collect::<String>()
        ));
    }
    Ok(changes)
}

/// `POST /settings/posts`: marks (or unmarks) posts `no_ai`.
pub async fn posts(State(state): State<Arc<WebState>>, headers: HeaderMap, body: Bytes) -> Response {
    let (session, mut fields) = match admit(&state, &headers, &body) {
        Ok(admitted) => admitted,
        Err(refused) => return refused.into_response(),
    };
    let form = PostsForm {
        which: fields.remove("which").unwrap_or_default(),
        from: fields.remove("from").unwrap_or_default().trim().to_owned(),
        until: fields.remove("until").unwrap_or_default().trim().to_owned(),
        no_ai: fields.remove("no_ai").unwrap_or_default(),
    };
    if let Some(unknown) = fields.keys().next() {
        return bad_request(&format!(
            "The form sent `{}`, which is not a field of this page.",
            unknown.chars().take(40).collect::<String>()
        ));
    }
    let (from, until, no_ai) = match posts_request(&form) {
        Ok(request) => request,
        Err(errors) => return render(&state, &session, StatusCode::BAD_REQUEST, None, &errors, &form).await,
    };
    // One store transaction marks every post of the range.
    match tollgate_cache::offload(|| state.store.set_posts_no_ai(session.account, from, until, no_ai)) {
        Ok(changed) => redirect(&format!("/settings?status=posts&changed={changed}&no_ai={no_ai}"), None),
        Err(e) => failed("marking posts", e),
    }
}

/// The range and mark a posts form asks for, or its errors by field.
fn posts_request(form: &PostsForm) -> Result<(Option<Timestamp>, Option<Timestamp>, bool), Vec<FieldError>> {
    let mut errors = Vec::new();
    let no_ai = match form.no_ai.as_str() {
        "true" => true,
        "false" => false,
        _ => {
            errors
                .push(FieldError { field: "no_ai-true", message: "Choose whether to add or remove the mark.".into() });
            true
        }
    };
    let (from, until) = match form.which.as_str() {
        "all" => (None, None),
        "range" => {
            let day = |field: &'static str, raw: &str, errors: &mut Vec<FieldError>| -> Option<Timestamp> {
                if raw.is_empty() {
                    return None;
                }
                let parsed = (raw.len() == 10).then(|| Timestamp::parse(&format!("{raw}T00:00:00Z")).ok()).flatten();
                if parsed.is_none() {
                    errors.push(FieldError {
                        field,
                        message: format!(
                            "`{}` is not a date: write it as year-month-day, such as 2025-01-31.",
                            raw.chars().take(40).collect::<String>()
                        ),
                    });
                }
                parsed
            };
            let from = day("from", &form.from, &mut errors);
            // The last day is included: the range ends at the next midnight.
            let until = day("until", &form.until, &mut errors).map(|t| Timestamp::from_millis(t.millis() + 86_400_000));
            if form.from.is_empty() && form.until.is_empty() {
                errors.push(FieldError { field: "from", message: "Give a first day, a last day, or both.".into() });
            }
            if let (Some(f), Some(u)) = (from, until)
                && f >= u
            {
                errors.push(FieldError {
                    field: "until",
                    message: "The last day must not be before the first day.".into(),
                });
            }
            (from, until)
        }
        _ => {
            errors.push(FieldError { field: "which-all", message: "Choose all posts or a range of dates.".into() });
            (None, None)
        }
    };
    if errors.is_empty() { Ok((from, until, no_ai)) } else { Err(errors) }
}

/// `POST /settings/sign-out`: ends the session.
pub async fn sign_out(State(state): State<Arc<WebState>>, headers: HeaderMap, body: Bytes) -> Response {
    let (session, _) = match admit(&state, &headers, &body) {
        Ok(admitted) => admitted,
        Err(refused) => return refused.into_response(),
    };
    state.signed_out.add(&session, now());
    redirect("/settings/signed-out", Some(set_cookie(&state, "", 0)))
}

/// `GET /settings/signed-out`.
pub async fn signed_out() -> Response {
    html(
        StatusCode::OK,
        page::message(
            "You are signed out",
            "Your session on this device has ended. Your settings stay as you left them.",
            page::SIGN_IN_AGAIN,
        ),
    )
}

/// `GET /settings/style.css`.
pub async fn style() -> Response {
    let mut response = crate::html::STYLE.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// `GET /settings/`: the page is `/settings`.
pub async fn to_home() -> Response {
    redirect("/settings", None)
}

/// A method a page does not take (a form's address opened as a link, say).
pub async fn method_not_allowed() -> Response {
    error_page(
        StatusCode::METHOD_NOT_ALLOWED,
        "This address is not a page",
        "This address only takes a form sent from the settings page. Nothing was changed.",
        "<p><a href=\"/settings\">Go to your settings</a>.</p>\n",
    )
}

/// Any other path under `/settings`.
pub async fn not_found() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is no page at this address.",
        "<p><a href=\"/settings\">Go to your settings</a>.</p>\n",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(which: &str, from: &str, until: &str, no_ai: &str) -> PostsForm {
        PostsForm { which: which.into(), from: from.into(), until: until.into(), no_ai: no_ai.into() }
    }

    #[test]
    fn a_date_range_includes_its_last_day() {
        let (from, until, no_ai) = posts_request(&form("range", "2025-01-01", "2025-01-31", "true")).unwrap();
        assert_eq!(from, Some(Timestamp::parse("2025-01-01T00:00:00Z").unwrap()));
        assert_eq!(until, Some(Timestamp::parse("2025-02-01T00:00:00Z").unwrap()));
        assert!(no_ai);
        assert_eq!(posts_request(&form("all", "", "", "false")).unwrap(), (None, None, false));
    }

    #[test]
    fn bad_posts_forms_name_their_fields() {
        let fields = |f: PostsForm| posts_request(&f).unwrap_err().into_iter().map(|e| e.field).collect::<Vec<_>>();
        assert_eq!(fields(form("range", "31/01/2025", "", "true")), ["from"]);
        assert_eq!(fields(form("range", "", "", "true")), ["from"]);
        assert_eq!(fields(form("range", "2025-02-01", "2025-01-01", "true")), ["until"]);
        assert_eq!(fields(form("some", "", "", "maybe")), ["no_ai-true", "which-all"]);
    }

    #[test]
    fn preference_forms_send_only_what_changed() {
        let mut f: BTreeMap<String, String> = [
            ("shown", "unset,deny,unset,unset,unset,unset"),
            ("train-genai.first-party", "unset"),
            ("train-genai.third-parties", "allow"),
            ("ai-input.third-parties", "deny"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let changes = preference_changes(&mut f).unwrap();
        assert_eq!(
            changes,
            [
                PreferenceChange { category: Category::TrainGenai, scope: Scope::ThirdParties, value: Tri::Allow },
                PreferenceChange { category: Category::AiInput, scope: Scope::ThirdParties, value: Tri::Deny },
            ]
        );
    }

    #[test]
    fn bad_preference_forms_are_refused() {
        let check = |pairs: &[(&str, &str)]| {
            let mut f: BTreeMap<String, String> =
                pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
            preference_changes(&mut f).unwrap_err()
        };
        let shown = ("shown", "unset,unset,unset,unset,unset,unset");
        assert!(check(&[shown, ("train-genai.first-party", "maybe")]).contains("maybe"));
        assert!(check(&[shown, ("train.first-party", "deny")]).contains("train.first-party"));
        assert!(check(&[("train-genai.first-party", "deny")]).contains("lacks"));
        assert!(check(&[("shown", "unset,unset"), ("train-genai.first-party", "deny")]).contains("not valid"));
    }

    #[test]
    fn repeated_fields_are_refused() {
        assert!(form_fields(b"a=1&a=2").is_err());
        assert_eq!(form_fields(b"a=1&b=%3Cx%3E").unwrap().get("b").map(String::as_str), Some("<x>"));
    }

    #[test]
    fn status_messages_come_only_from_known_values() {
        assert_eq!(status_of("status=saved"), Some(Status::Saved));
        assert_eq!(status_of("status=posts&changed=3&no_ai=false"), Some(Status::Posts { changed: 3, no_ai: false }));
        assert_eq!(status_of("status=posts&changed=<b>"), None);
        assert_eq!(status_of("status=<script>"), None);
    }
}
