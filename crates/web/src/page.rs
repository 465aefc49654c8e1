//! The pages' HTML. Every value from outside this file (names, handles,
//! regions, app names, tokens, what a form sent back) goes through `esc`.

use std::fmt::Write as _;

use tollgate_domain::{
    Account, AccountStatus, AuthorFacts, Category, ConsentDefaults, Purpose, RegionGroup, Scope, Tier, Timestamp, Tri,
};

use crate::html::{esc, page, time};
use crate::report::{AppReport, RequestKind, RequestStatus};

/// What a change told the person (`?status=` after a redirect).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    SignedIn,
    Saved,
    Unchanged,
    /// How many posts changed, and whether they are now marked.
    Posts {
        changed: u64,
        no_ai: bool,
    },
}

/// An error of one field of the posts form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The id of the control it is about.
    pub field: &'static str,
    pub message: String,
}

/// The posts form as sent, to show again with its errors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostsForm {
    pub which: String,
    pub from: String,
    pub until: String,
    pub no_ai: String,
}

/// Everything the settings page shows.
pub struct View<'a> {
    pub account: &'a Account,
    pub defaults: &'a ConsentDefaults,
    pub now: Timestamp,
    pub csrf: &'a str,
    pub status: Option<Status>,
    pub errors: &'a [FieldError],
    pub form: &'a PostsForm,
    pub report: &'a [AppReport],
    pub requests: &'a [RequestStatus],
}

pub fn category_label(c: Category) -> &'static str {
    match c {
        Category::TrainGenai => "Training generative AI",
        Category::TrainAi => "Training other AI",
        Category::AiInput => "Use as input to AI",
    }
}

fn category_hint(c: Category) -> &'static str {
    match c {
        Category::TrainGenai => "Teaching AI models that write text or make images, using your posts as examples.",
        Category::TrainAi => {
            "Teaching other AI models, such as ones that rank, recommend or classify, using your posts."
        }
        Category::AiInput => {
            "Giving your posts to an AI system to answer a question or summarise them, without training on them."
        }
    }
}

pub fn scope_label(s: Scope) -> &'static str {
    match s {
        Scope::FirstParty => "by the platform itself",
        Scope::ThirdParties => "by other companies' apps",
    }
}

fn purpose_label(p: Option<Purpose>) -> &'static str {
    match p {
        Some(Purpose::Display) => "showing your posts",
        Some(Purpose::Analytics) => "analytics",
        Some(Purpose::Moderation) => "moderation",
        Some(Purpose::Research) => "research",
        Some(Purpose::Search) => "search",
        Some(Purpose::AiInput) => "input to AI",
        Some(Purpose::TrainAi) => "training AI",
        Some(Purpose::TrainGenai) => "training generative AI",
        Some(Purpose::Archive) => "archiving",
        None => "not stated",
    }
}

fn tier_label(t: Option<Tier>) -> &'static str {
    match t {
        Some(Tier::Standard) => "developer app",
        Some(Tier::Partner) => "partner",
        Some(Tier::FirstParty) => "the platform itself",
        None => "unknown",
    }
}

fn tri_label(t: Tri) -> &'static str {
    match t {
        Tri::Allow => "allow",
        Tri::Deny => "deny",
        Tri::Unset => "platform default",
    }
}

/// The id and name of the radio group of one preference.
pub fn field_name(c: Category, s: Scope) -> String {
    format!("{}.{}", c.as_str(), s.as_str())
}

/// Why one preference resolves as it does, in a sentence.
fn why(view: &View<'_>, facts: &AuthorFacts, c: Category, s: Scope) -> String {
    if facts.minor {
        return "Denied: your account belongs to a minor, and AI uses of a minor's posts are always denied.".into();
    }
    let region = esc(&view.account.region);
    match view.account.ai_preferences.get(c, s).value {
        Tri::Allow => "Allowed: you chose allow.".into(),
        Tri::Deny => "Denied: you chose deny.".into(),
        Tri::Unset => {
            let default = view.defaults.default_for(facts.region_group);
            let verdict = if default == Tri::Allow { "Allowed" } else { "Denied" };
            let word = if default == Tri::Allow { "allow" } else { "deny" };
            match facts.region_group {
                RegionGroup::Restricted => format!(
                    "{verdict}: you have not chosen, so the platform default applies. Your region, {region}, is one \
                     where the default is {word} (the EU, the EEA and the UK, unless the operator configured other \
                     regions)."
                ),
                RegionGroup::Default => format!(
                    "{verdict}: you have not chosen, so the platform default applies. For your region, {region}, the \
                     default is {word}."
                ),
            }
        }
    }
}

/// The settings page of a signed-in account.
pub fn settings(view: &View<'_>) -> String {
    let facts = AuthorFacts::of(view.account, view.defaults, view.now);
    let mut m = String::with_capacity(16 << 10);
    let _ = write!(
        m,
        "<h1>Your AI settings</h1>\n<p>Signed in as <strong>{}</strong> (@{}), account {}.</p>\n",
        esc(&view.account.display_name),
        esc(&view.account.handle),
        view.account.id
    );
    status_message(&mut m, view.status);
    error_summary(&mut m, view.errors);
    if facts.minor {
        m.push_str(
            "<p class=\"note\"><strong>Your account belongs to a minor.</strong> Your posts are never used for any AI \
             purpose, whatever the choices below say. The choices are kept and apply once you are an adult.</p>\n",
        );
    }
    if view.account.status != AccountStatus::Active {
        let _ = writeln!(
            m,
            "<p class=\"note\">Your account's status is <strong>{}</strong>: apps receive none of your posts while it \
             is not active.</p>",
            esc(view.account.status.as_str())
        );
    }
    preferences(&mut m, view, &facts);
    posts_form(&mut m, view);
    transparency(&mut m, view.report);
    requests(&mut m, view.requests);
    page("Your AI settings", &m, Some(view.csrf))
}

fn status_message(m: &mut String, status: Option<Status>) {
    let text = match status {
        None => return,
        Some(Status::SignedIn) => "You are signed in.".to_owned(),
        Some(Status::Saved) => {
            "Your AI preferences are saved. They apply from the next request any app makes.".to_owned()
        }
        Some(Status::Unchanged) => "Nothing was changed: the preferences you sent are the ones already set.".to_owned(),
        Some(Status::Posts { changed, no_ai: true }) => format!(
            "{changed} {} now marked to be kept out of every AI use.",
            if changed == 1 { "post is" } else { "posts are" }
        ),
        Some(Status::Posts { changed, no_ai: false }) => format!(
            "The mark was removed from {changed} {}; your AI preferences apply to them again.",
            if changed == 1 { "post" } else { "posts" }
        ),
    };
    let _ = writeln!(m, "<div id=\"status\" class=\"status\" role=\"status\"><p>{}</p></div>", esc(&text));
}

fn error_summary(m: &mut String, errors: &[FieldError]) {
    if errors.is_empty() {
        return;
    }
    m.push_str(
        "<div class=\"errors\" role=\"alert\" aria-labelledby=\"errors-title\">\n<h2 id=\"errors-title\">Nothing was \
         changed: please correct the form</h2>\n<ul>\n",
    );
    for e in errors {
        let _ = writeln!(m, "<li><a href=\"#{}\">{}</a></li>", e.field, esc(&e.message));
    }
    m.push_str("</ul>\n</div>\n");
}

fn preferences(m: &mut String, view: &View<'_>, facts: &AuthorFacts) {
    m.push_str(
        "<section aria-labelledby=\"prefs-title\">\n<h2 id=\"prefs-title\">AI preferences</h2>\n<p>For each kind of AI \
         use, choose whether the platform itself and other companies' apps may use your posts. \"Platform default\" \
         leaves the choice to the platform's rules, explained beside each choice.</p>\n",
    );
    // What applies now, at a glance.
    m.push_str("<table>\n<caption>What applies to your posts now</caption>\n<thead><tr><th scope=\"col\">Use</th>");
    for s in Scope::ALL {
        let _ = write!(m, "<th scope=\"col\">{}</th>", esc(&capitalised(scope_label(s))));
    }
    m.push_str("</tr></thead>\n<tbody>\n");
    for c in Category::ALL {
        let _ = write!(m, "<tr><th scope=\"row\">{}</th>", esc(category_label(c)));
        for s in Scope::ALL {
            let _ = write!(m, "<td>{}</td>", if facts.consents(c, s) { "Allowed" } else { "Denied" });
        }
        m.push_str("</tr>\n");
    }
    m.push_str("</tbody>\n</table>\n");
    let shown: Vec<&str> = Category::ALL
        .iter()
        .flat_map(|c| Scope::ALL.map(|s| view.account.ai_preferences.get(*c, s).value.as_str()))
        .collect();
    let _ = write!(
        m,
        "<form method=\"post\" action=\"/settings/preferences\">\n<input type=\"hidden\" name=\"csrf\" \
         value=\"{}\">\n<input type=\"hidden\" name=\"shown\" value=\"{}\">\n",
        esc(view.csrf),
        esc(&shown.join(","))
    );
    for c in Category::ALL {
        let _ = write!(
            m,
            "<h3 id=\"h-{c}\">{}</h3>\n<p class=\"hint\" id=\"hint-{c}\">{}</p>\n",
            esc(category_label(c)),
            esc(category_hint(c))
        );
        for s in Scope::ALL {
            let name = field_name(c, s);
            let id = format!("{c}-{s}");
            let current = view.account.ai_preferences.get(c, s).value;
            let _ = write!(
                m,
                "<fieldset aria-describedby=\"hint-{c} why-{id}\">\n<legend>{}, {}</legend>\n",
                esc(category_label(c)),
                esc(scope_label(s))
            );
            for value in [Tri::Allow, Tri::Deny, Tri::Unset] {
                let _ = writeln!(
                    m,
                    "<label class=\"choice\" for=\"{id}-{v}\"><input type=\"radio\" id=\"{id}-{v}\" name=\"{name}\" \
                     value=\"{v}\"{checked}> {label}</label>",
                    v = value.as_str(),
                    name = esc(&name),
                    checked = if value == current { " checked" } else { "" },
                    label = match value {
                        Tri::Unset => format!(
                            "Platform default (now: {})",
                            tri_label(if facts.minor {
                                Tri::Deny
                            } else {
                                view.defaults.default_for(facts.region_group)
                            })
                        ),
                        other => capitalised(tri_label(other)),
                    }
                );
            }
            let _ = write!(m, "<p class=\"hint\" id=\"why-{id}\">{}</p>\n</fieldset>\n", why(view, facts, c, s));
        }
    }
    m.push_str("<button type=\"submit\">Save AI preferences</button>\n</form>\n</section>\n");
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

fn posts_form(m: &mut String, view: &View<'_>) {
    let f = view.form;
    let error = |field: &str| view.errors.iter().find(|e| e.field == field);
    let _ = write!(
        m,
        "<section aria-labelledby=\"posts-title\">\n<h2 id=\"posts-title\">Keep posts out of AI</h2>\n<p>Mark your \
         posts so that no app may use them for any AI purpose, whatever your preferences above say; or remove the \
         mark.</p>\n<form method=\"post\" action=\"/settings/posts\" novalidate>\n<input type=\"hidden\" \
         name=\"csrf\" value=\"{}\">\n<fieldset>\n<legend>Which posts</legend>\n",
        esc(view.csrf)
    );
    let which = if f.which.is_empty() { "all" } else { f.which.as_str() };
    for (value, label) in [("all", "All my posts"), ("range", "My posts from a range of dates")] {
        let _ = writeln!(
            m,
            "<label class=\"choice\" for=\"which-{value}\"><input type=\"radio\" id=\"which-{value}\" name=\"which\" \
             value=\"{value}\"{}> {label}</label>",
            if which == value { " checked" } else { "" }
        );
    }
    m.push_str("</fieldset>\n");
    for (field, label, hint, value) in [
        (
            "from",
            "From (the first day, included)",
            "A date such as 2025-01-31. Leave empty to start at your first post.",
            &f.from,
        ),
        (
            "until",
            "Until (the last day, included)",
            "A date such as 2025-12-31. Leave empty to go up to today.",
            &f.until,
        ),
    ] {
        let err = error(field);
        let described = if err.is_some() { format!("{field}-hint {field}-error") } else { format!("{field}-hint") };
        let _ = write!(
            m,
            "<div class=\"field\">\n<label for=\"{field}\">{label}</label>\n<p class=\"hint\" id=\"{field}-hint\">{hint}</p>\n"
        );
        if let Some(e) = err {
            let _ = writeln!(m, "<p class=\"error\" id=\"{field}-error\">Error: {}</p>", esc(&e.message));
        }
        let _ = write!(
            m,
            "<input type=\"date\" id=\"{field}\" name=\"{field}\" value=\"{}\" aria-describedby=\"{described}\"{}>\n</div>\n",
            esc(value),
            if err.is_some() { " aria-invalid=\"true\"" } else { "" }
        );
    }
    let no_ai = if f.no_ai.is_empty() { "true" } else { f.no_ai.as_str() };
    m.push_str("<fieldset>\n<legend>What to do</legend>\n");
    for (value, label) in
        [("true", "Keep these posts out of every AI use"), ("false", "Remove the mark from these posts")]
    {
        let _ = writeln!(
            m,
            "<label class=\"choice\" for=\"no_ai-{value}\"><input type=\"radio\" id=\"no_ai-{value}\" name=\"no_ai\" \
             value=\"{value}\"{}> {label}</label>",
            if no_ai == value { " checked" } else { "" }
        );
    }
    m.push_str("</fieldset>\n<button type=\"submit\">Apply to my posts</button>\n</form>\n</section>\n");
}

fn transparency(m: &mut String, report: &[AppReport]) {
    m.push_str(
        "<section aria-labelledby=\"report-title\">\n<h2 id=\"report-title\">Who received your posts</h2>\n<p>Every \
         post an app receives is recorded in a tamper-evident ledger before it is sent. This is what the ledger \
         records about your posts.</p>\n",
    );
    if report.is_empty() {
        m.push_str("<p>No app has received any of your posts.</p>\n");
    } else {
        m.push_str(
            "<table>\n<caption>Apps that received your posts</caption>\n<thead><tr><th scope=\"col\">App</th><th \
             scope=\"col\">Kind</th><th scope=\"col\">Purpose</th><th scope=\"col\">Deliveries</th><th \
             scope=\"col\">First</th><th scope=\"col\">Most recent</th></tr></thead>\n<tbody>\n",
        );
        for app in report {
            let name = match (&app.name, app.app_id) {
                (Some(name), _) => esc(name),
                (None, Some(id)) => format!("App {id} (no longer registered)"),
                (None, None) => "Clients that named no app".to_owned(),
            };
            for p in &app.purposes {
                let _ = writeln!(
                    m,
                    "<tr><th scope=\"row\">{name}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    tier_label(app.tier),
                    purpose_label(p.purpose),
                    p.deliveries,
                    time(p.first),
                    time(p.last)
                );
            }
        }
        m.push_str("</tbody>\n</table>\n");
    }
    m.push_str(
        "<p>Changing a preference or marking posts stops future deliveries at once: the next request any app makes \
         is decided with your new choice. It cannot call back what apps already received. In particular, withdrawing \
         consent cannot remove your posts from an AI model that was already trained on them.</p>\n</section>\n",
    );
}

fn requests(m: &mut String, rows: &[RequestStatus]) {
    m.push_str(
        "<section aria-labelledby=\"requests-title\">\n<h2 id=\"requests-title\">What apps were asked to \
         do</h2>\n<p>When you delete posts or your account, protect it, withdraw consent or mark posts, every app \
         that received the posts concerned is told. An app must delete its copies of deleted posts, or stop using \
         posts for AI once you withdraw consent or mark them, within the deadline of its developer agreement, and \
         confirm that it did.</p>\n",
    );
    if rows.is_empty() {
        m.push_str("<p>No app has been asked to do anything about your posts.</p>\n</section>\n");
        return;
    }
    m.push_str(
        "<table>\n<caption>Requests to apps</caption>\n<thead><tr><th scope=\"col\">App</th><th \
         scope=\"col\">Asked to</th><th scope=\"col\">Waiting</th><th scope=\"col\">Done</th><th \
         scope=\"col\">Overdue</th><th scope=\"col\">Next deadline</th></tr></thead>\n<tbody>\n",
    );
    for r in rows {
        let name = match &r.app_name {
            Some(name) => esc(name),
            None => format!("App {} (no longer registered)", r.app_id),
        };
        let _ = writeln!(
            m,
            "<tr><th scope=\"row\">{name}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            match r.kind {
                RequestKind::Delete => "delete its copies",
                RequestKind::StopAiUse => "stop using them for AI",
            },
            r.pending,
            r.done,
            r.overdue,
            r.next_deadline.map(time).unwrap_or_else(|| "none".into())
        );
    }
    m.push_str("</tbody>\n</table>\n</section>\n");
}

/// A page with a heading and a message: errors, and the signed-out page.
/// `message` is text (escaped here); `next` is HTML of this file's own.
pub fn message(title: &str, message: &str, next: &str) -> String {
    let body = format!("<h1>{}</h1>\n<p>{}</p>\n{next}", esc(title), esc(message));
    page(title, &body, None)
}

/// What to do after an error about signing in.
pub const SIGN_IN_AGAIN: &str =
    "<p>Open the settings link in the platform's app or website again: it gives you a new sign-in link.</p>\n";
