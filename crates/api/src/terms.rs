//! The platform's terms in the machine-readable forms crawlers and clients
//! read: `/robots.txt` (with aipref `Content-Usage`, Cloudflare's
//! `Content-Signal` and RSL's `License:` lines), `/.well-known/tdmrep.json`
//! (W3C TDMRep), `/license.xml` (RSL 1.0), and the `Content-Usage` and
//! `tdm-reservation` headers of every content answer of the developer API.
//!
//! None of them is written by hand. Each is generated once, at startup, from
//! what the policy in force grants by default: the purposes for which a
//! standard third-party app, having declared them and accepted the current
//! agreement, gets the post of an adult author who set no preference, in
//! every region group (`granted_by_default`). Those files cannot speak per
//! author, so a use is granted only if it is granted for every author on the
//! defaults. The vocabularies are mapped from Tollgate's purposes in one table
//! each (`tollgate_domain::AIPREF_TERMS`, `CONTENT_SIGNAL_TERMS`,
//! `RSL_USAGE_TERMS`).

use std::path::Path;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tollgate_domain::{
    AIPREF_TERMS, AccountStatus, AgreementState, AiPreferences, AppId, AppStatus, AuthorFacts, CONTENT_SIGNAL_TERMS,
    Category, ConsentDefaults, PostFacts, Purpose, RSL_USAGE_TERMS, RegionGroup, Scope, Tier, UsageTerm,
};
use tollgate_policy::{AppFacts, PolicyEngine};

use crate::ApiState;

/// The AI crawlers Tollgate knows by default: user-agent token, operator,
/// and what the operator says it uses the pages for.
///
/// Source: the ai.robots.txt project's `robots.json`
/// (github.com/ai-robots-txt/ai.robots.txt) and each operator's own crawler
/// documentation, as of December 2026. Replace it with a newer `robots.json`
/// through `robots_agents_file` rather than by editing this table.
const KNOWN_AI_AGENTS: &[(&str, &str, AgentUse)] = &[
    ("GPTBot", "OpenAI", AgentUse::Training),
    ("OAI-SearchBot", "OpenAI", AgentUse::AiInput),
    ("ChatGPT-User", "OpenAI", AgentUse::AiInput),
    ("ClaudeBot", "Anthropic", AgentUse::Training),
    ("Claude-SearchBot", "Anthropic", AgentUse::AiInput),
    ("Claude-User", "Anthropic", AgentUse::AiInput),
    ("anthropic-ai", "Anthropic", AgentUse::Training),
    ("CCBot", "Common Crawl", AgentUse::Training),
    ("Google-Extended", "Google", AgentUse::Training),
    ("Applebot-Extended", "Apple", AgentUse::Training),
    ("PerplexityBot", "Perplexity", AgentUse::AiInput),
    ("Perplexity-User", "Perplexity", AgentUse::AiInput),
    ("Bytespider", "ByteDance", AgentUse::Training),
    ("meta-externalagent", "Meta", AgentUse::Training),
    ("Meta-ExternalFetcher", "Meta", AgentUse::AiInput),
    ("FacebookBot", "Meta", AgentUse::Training),
    ("Amazonbot", "Amazon", AgentUse::Training),
    ("cohere-ai", "Cohere", AgentUse::AiInput),
    ("cohere-training-data-crawler", "Cohere", AgentUse::Training),
    ("Diffbot", "Diffbot", AgentUse::Training),
    ("MistralAI-User", "Mistral AI", AgentUse::AiInput),
    ("DuckAssistBot", "DuckDuckGo", AgentUse::AiInput),
    ("YouBot", "You.com", AgentUse::AiInput),
    ("AI2Bot", "Allen Institute for AI", AgentUse::Training),
    ("Timpibot", "Timpi", AgentUse::Training),
    ("omgili", "Webz.io", AgentUse::Training),
    ("ImagesiftBot", "ImageSift", AgentUse::Training),
];

/// What an AI crawler fetches pages for, in Tollgate's purposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentUse {
    /// Training models (`train-ai`, `train-genai`).
    Training,
    /// Feeding pages to a model as it answers (`ai-input`).
    AiInput,
    /// Unknown: any AI purpose (the agents of a `robots.json` file, which
    /// says what they do only in prose).
    AnyAi,
}

impl AgentUse {
    fn purposes(self) -> &'static [Purpose] {
        match self {
            AgentUse::Training => &[Purpose::TrainAi, Purpose::TrainGenai],
            AgentUse::AiInput => &[Purpose::AiInput],
            AgentUse::AnyAi => &[Purpose::AiInput, Purpose::TrainAi, Purpose::TrainGenai],
        }
    }

    /// The purpose an agent's requests are decided for: the use its
    /// operator declares, the most demanding one where it says only "AI".
    fn purpose(self) -> Purpose {
        match self {
            AgentUse::Training | AgentUse::AnyAi => Purpose::TrainGenai,
            AgentUse::AiInput => Purpose::AiInput,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            AgentUse::Training => "training",
            AgentUse::AiInput => "ai-input",
            AgentUse::AnyAi => "ai",
        }
    }
}

/// One AI crawler robots.txt speaks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiAgent {
    /// The user-agent token its `User-agent:` line names.
    pub name: String,
    pub operator: String,
    pub uses: AgentUse,
}

/// The built-in list of AI crawlers (`KNOWN_AI_AGENTS`).
pub fn builtin_agents() -> Vec<AiAgent> {
    KNOWN_AI_AGENTS
        .iter()
        .map(|(name, operator, uses)| AiAgent { name: (*name).into(), operator: (*operator).into(), uses: *uses })
        .collect()
}

/// A `robots.json` file that cannot stand in for the built-in list.
#[derive(Debug, thiserror::Error)]
pub enum TermsError {
    #[error("cannot read the AI agents file `{path}`: {error}")]
    Read { path: String, error: String },
    #[error("the AI agents file `{path}` is not robots.json's format (an object of user agents): {error}")]
    Format { path: String, error: String },
    #[error("the AI agents file `{path}` names no user agent")]
    Empty { path: String },
    #[error("the AI agents file `{path}` has the user agent `{name}`, which {why}")]
    Agent { path: String, name: String, why: &'static str },
}

/// The agents of a file in the ai.robots.txt project's `robots.json` format:
/// an object whose keys are user-agent tokens and whose values are objects
/// with (among others) an `operator` string. Each counts as an AI crawler of
/// any AI purpose.
pub fn load_agents(path: &Path) -> Result<Vec<AiAgent>, TermsError> {
    let shown = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| TermsError::Read { path: shown.clone(), error: e.to_string() })?;
    parse_agents(&text, &shown)
}

/// `load_agents` on text already read; `path` names it in errors.
pub fn parse_agents(text: &str, path: &str) -> Result<Vec<AiAgent>, TermsError> {
    let format = |error: String| TermsError::Format { path: path.into(), error };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format(e.to_string()))?;
    let entries = value.as_object().ok_or_else(|| format("the top level is not an object".into()))?;
    let mut agents = Vec::with_capacity(entries.len());
    for (name, entry) in entries {
        let bad = |why| TermsError::Agent { path: path.into(), name: name.clone(), why };
        let entry = entry.as_object().ok_or_else(|| bad("is not described by an object"))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(bad("is empty"));
        }
        // Anything else a real list holds (`iaskspider/2.0`, `Kangaroo Bot`)
        // stays; only what would break the file's lines is refused.
        if name.chars().any(|c| c.is_control() || c == '#') {
            return Err(bad("holds a control character or `#`"));
        }
        let operator = entry.get("operator").and_then(|o| o.as_str()).map(plain_operator).unwrap_or_default();
        agents.push(AiAgent { name: name.into(), operator, uses: AgentUse::AnyAi });
    }
    if agents.is_empty() {
        return Err(TermsError::Empty { path: path.into() });
    }
    Ok(agents)
}

/// `[OpenAI](https://openai.com)` as `OpenAI`, on one line.
fn plain_operator(raw: &str) -> String {
    let text = match (raw.strip_prefix('['), raw.find("](")) {
        (Some(_), Some(end)) => &raw[1..end],
        _ => raw,
    };
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_owned()
}

/// The configuration of the terms.
#[derive(Debug, Clone)]
pub struct TermsConfig {
    /// The AI crawlers robots.txt speaks to (`robots_agents_file`, or the
    /// built-in list).
    pub ai_agents: Vec<AiAgent>,
    /// Where licensable uses are licensed (`partner_program_url`); `None`:
    /// `<public_url>/agreement`.
    pub partner_program_url: Option<String>,
    /// The price of one page to a verified crawler, when the guard sells
    /// crawls (pay per crawl): `/license.xml` offers it as a third license.
    pub crawl_price: Option<crate::guard_response::Price>,
}

impl Default for TermsConfig {
    fn default() -> Self {
        TermsConfig { ai_agents: builtin_agents(), partner_program_url: None, crawl_price: None }
    }
}

/// The generated files and header values, computed once.
#[derive(Debug)]
pub struct Terms {
    granted: Vec<Purpose>,
    robots_txt: String,
    tdmrep_json: String,
    license_xml: String,
    content_usage: HeaderValue,
    tdm_reservation: HeaderValue,
    tdm_policy: Option<HeaderValue>,
    /// The AI crawlers robots.txt names, each with the purpose its pages are
    /// decided for and whether robots.txt turns it away from content.
    agents: Vec<(AiAgent, Purpose, bool)>,
}

/// The purposes the policy grants by default: those for which a standard
/// third-party app that declared every purpose and accepted the current
/// agreement gets a post (not marked "no AI") of an adult, unprotected,
/// active author who set no preference, in every region group.
pub fn granted_by_default(policy: &PolicyEngine, defaults: &ConsentDefaults) -> Vec<Purpose> {
    let crawler = AppFacts {
        app_id: AppId(0),
        tier: Tier::Standard,
        purposes: Purpose::ALL.to_vec(),
        licensed_purposes: Vec::new(),
        status: AppStatus::Active,
        agreement: AgreementState::Current,
    };
    let author = |group: RegionGroup| {
        let mut consent = [[false; 2]; 3];
        for c in Category::ALL {
            for s in Scope::ALL {
                consent[c.index()][s.index()] = defaults.effective(&AiPreferences::default(), group, false, c, s);
            }
        }
        AuthorFacts { consent, protected: false, minor: false, region_group: group, status: AccountStatus::Active }
    };
    Purpose::ALL
        .into_iter()
        .filter(|&purpose| {
            [RegionGroup::Default, RegionGroup::Restricted].into_iter().all(|group| {
                let post = PostFacts { author: author(group), no_ai: false, deleted: false };
                // The reference path, uncached: this made-up app must not
                // take a place in the decision cache.
                policy.evaluate(&crawler, purpose, post).is_allowed()
            })
        })
        .collect()
}

impl Terms {
    pub fn new(policy: &PolicyEngine, defaults: &ConsentDefaults, public_url: &str, config: &TermsConfig) -> Terms {
        // INVARIANT (terms-from-policy): every file and header value says
        // what `granted_by_default` found the policy in force to do; nothing
        // in them is written by hand.
        Terms::from_granted(granted_by_default(policy, defaults), policy.version(), public_url, config)
    }

    fn from_granted(granted: Vec<Purpose>, policy_version: &str, public_url: &str, config: &TermsConfig) -> Terms {
        let base = public_url.trim_end_matches('/');
        let license_url = format!("{base}/license.xml");
        let partner_url = config.partner_program_url.clone().unwrap_or_else(|| format!("{base}/agreement"));
        let grants = |term: &UsageTerm| term.purposes.iter().all(|p| granted.contains(p));
        let ai_all_granted =
            [Purpose::AiInput, Purpose::TrainAi, Purpose::TrainGenai].iter().all(|p| granted.contains(p));
        let reserved = !ai_all_granted;

        let content_usage = AIPREF_TERMS
            .iter()
            .map(|t| format!("{}={}", t.label, if grants(t) { "y" } else { "n" }))
            .collect::<Vec<_>>()
            .join(", ");
        let content_signal = CONTENT_SIGNAL_TERMS
            .iter()
            .map(|t| format!("{}={}", t.label, if grants(t) { "yes" } else { "no" }))
            .collect::<Vec<_>>()
            .join(", ");

        let robots_txt = robots_txt(RobotsInput {
            agents: &config.ai_agents,
            granted: &granted,
            policy_version,
            content_usage: &content_usage,
            content_signal: &content_signal,
            license_url: &license_url,
        });
        let tdmrep_json = if reserved {
            serde_json::json!([{ "location": "/*", "tdm-reservation": 1, "tdm-policy": license_url }])
        } else {
            serde_json::json!([{ "location": "/*", "tdm-reservation": 0 }])
        };
        let license_xml = license_xml(&granted, &partner_url, config.crawl_price.as_ref());
        Terms {
            robots_txt,
            tdmrep_json: format!("{tdmrep_json:#}\n"),
            license_xml,
            content_usage: header_value(&content_usage),
            tdm_reservation: HeaderValue::from_static(if reserved { "1" } else { "0" }),
            tdm_policy: reserved.then(|| header_value(&license_url)),
            agents: config
                .ai_agents
                .iter()
                .map(|a| (a.clone(), a.uses.purpose(), !a.uses.purposes().iter().all(|p| granted.contains(p))))
                .collect(),
            granted,
        }
    }

    /// The purposes granted by default, which every file states.
    pub fn granted(&self) -> &[Purpose] {
        &self.granted
    }

    /// The AI crawlers robots.txt names: their user-agent tokens and the
    /// purpose their requests are decided for.
    pub fn ai_agents(&self) -> impl Iterator<Item = (&str, Purpose)> {
        self.agents.iter().map(|(a, purpose, _)| (a.name.as_str(), *purpose))
    }

    /// Whether robots.txt disallows `path` to a client whose user agent has
    /// the token `agent` (one of `ai_agents`; `None` for any other): the
    /// answer robots.txt's own groups give, without parsing it.
    pub fn disallows(&self, agent: Option<&str>, path: &str) -> bool {
        if TERMS_PATHS.contains(&path) {
            return false;
        }
        let refused =
            agent.is_some_and(|t| self.agents.iter().any(|(a, _, refused)| *refused && a.name.eq_ignore_ascii_case(t)));
        refused || PRIVATE_PATHS.iter().any(|p| path.starts_with(p))
    }

    pub fn robots_txt(&self) -> &str {
        &self.robots_txt
    }

    pub fn tdmrep_json(&self) -> &str {
        &self.tdmrep_json
    }

    pub fn license_xml(&self) -> &str {
        &self.license_xml
    }

    /// States the terms on an answer of a content endpoint that no delivery
    /// stated them on (an error, a refusal): a delivery's own headers
    /// (`content::usage_headers`), decided for this app on the items it got,
    /// say more and are left as they are. The values were computed at
    /// startup, so this costs a few reference-count increments.
    pub(crate) fn stamp(&self, headers: &mut HeaderMap) {
        if headers.contains_key("content-usage") {
            return;
        }
        headers.insert("content-usage", self.content_usage.clone());
        headers.insert("tdm-reservation", self.tdm_reservation.clone());
        if let Some(policy) = &self.tdm_policy {
            headers.insert("tdm-policy", policy.clone());
        }
    }
}

/// A header value from generated text: visible ASCII, unless a configured
/// URL holds other bytes; the header is then left empty rather than the
/// server failing.
fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

struct RobotsInput<'a> {
    agents: &'a [AiAgent],
    granted: &'a [Purpose],
    policy_version: &'a str,
    content_usage: &'a str,
    content_signal: &'a str,
    license_url: &'a str,
}

/// The paths no crawler is asked to fetch: the developer API (it needs a
/// key and an agreement), the internal API, the settings pages and the
/// guard's own paths (its challenge, and the hidden links of the public
/// pages, which only a client that ignores robots.txt follows).
const PRIVATE_PATHS: [&str; 4] = ["/2/", "/internal/", "/settings", "/_tg/"];

/// The terms files themselves, which the AI crawlers turned away from
/// everything else may still read.
const TERMS_PATHS: [&str; 3] = ["/robots.txt", "/.well-known/tdmrep.json", "/license.xml"];

fn robots_txt(input: RobotsInput<'_>) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "# The terms of this platform for crawlers, generated by Tollgate from the policy in");
    let _ = writeln!(out, "# force and its consent defaults; /license.xml and /.well-known/tdmrep.json state");
    let _ = writeln!(out, "# the same terms in other forms.");
    let _ = writeln!(out, "# Policy version: {}", input.policy_version);
    let _ = writeln!(out, "#");
    let _ = writeln!(out, "# Content signals: search = building a search index and showing links and short");
    let _ = writeln!(out, "# excerpts; ai-input = feeding content to AI models as they answer (retrieval,");
    let _ = writeln!(out, "# grounding); ai-train = training or fine-tuning AI models. A use said \"no\" here");
    let _ = writeln!(out, "# is reserved, as Article 4 of Directive (EU) 2019/790 allows; it is licensed");
    let _ = writeln!(out, "# only as /license.xml describes.");
    // An agent is turned away when the policy does not grant, by default,
    // every purpose it fetches for.
    let refused: Vec<&AiAgent> =
        input.agents.iter().filter(|a| !a.uses.purposes().iter().all(|p| input.granted.contains(p))).collect();
    if !refused.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "# AI crawlers (user agent: operator, use):");
        for a in &refused {
            let operator = if a.operator.is_empty() { "unknown operator" } else { &a.operator };
            let _ = writeln!(out, "#   {}: {}, {}", a.name, operator, a.uses.as_str());
        }
        for a in &refused {
            let _ = writeln!(out, "User-agent: {}", a.name);
        }
        for path in TERMS_PATHS {
            let _ = writeln!(out, "Allow: {path}");
        }
        let _ = writeln!(out, "Disallow: /");
        let _ = writeln!(out, "Content-Usage: {}", input.content_usage);
        let _ = writeln!(out, "Content-Signal: {}", input.content_signal);
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "User-agent: *");
    let _ = writeln!(out, "Allow: /");
    for path in PRIVATE_PATHS {
        let _ = writeln!(out, "Disallow: {path}");
    }
    let _ = writeln!(out, "Content-Usage: {}", input.content_usage);
    let _ = writeln!(out, "Content-Signal: {}", input.content_signal);
    let _ = writeln!(out);
    let _ = writeln!(out, "License: {}", input.license_url);
    out
}

/// The five characters XML escapes in text and attribute values.
fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// RSL 1.0: one `<content>` for every path, with a free license for what
/// is granted by default and, if anything is withheld, a second license for
/// it whose terms are the partner program's, and, when the guard sells
/// crawls, a third: the same uses at a price per page (`crawl`), for a
/// crawler that proves who it is (Web Bot Auth or published ranges).
fn license_xml(granted: &[Purpose], partner_url: &str, crawl_price: Option<&crate::guard_response::Price>) -> String {
    let (permitted, withheld): (Vec<&UsageTerm>, Vec<&UsageTerm>) =
        RSL_USAGE_TERMS.iter().partition(|t| t.purposes.iter().all(|p| granted.contains(p)));
    let labels = |terms: &[&UsageTerm]| terms.iter().map(|t| t.label).collect::<Vec<_>>().join(",");
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<!-- Generated by Tollgate from the policy in force and its consent defaults. -->\n");
    out.push_str("<rsl xmlns=\"https://rslstandard.org/rsl\">\n");
    out.push_str("  <content url=\"/\">\n");
    out.push_str("    <license>\n");
    if !permitted.is_empty() {
        out.push_str(&format!("      <permits type=\"usage\">{}</permits>\n", labels(&permitted)));
    }
    if !withheld.is_empty() {
        out.push_str(&format!("      <prohibits type=\"usage\">{}</prohibits>\n", labels(&withheld)));
    }
    out.push_str("      <payment type=\"free\"/>\n");
    out.push_str("    </license>\n");
    if !withheld.is_empty() {
        out.push_str("    <license>\n");
        out.push_str(&format!("      <permits type=\"usage\">{}</permits>\n", labels(&withheld)));
        out.push_str("      <payment type=\"subscription\">\n");
        out.push_str(&format!("        <custom>{}</custom>\n", xml_escape(partner_url)));
        out.push_str("      </payment>\n");
        out.push_str("    </license>\n");
        if let Some(price) = crawl_price {
            out.push_str("    <license>\n");
            out.push_str(&format!("      <permits type=\"usage\">{}</permits>\n", labels(&withheld)));
            out.push_str("      <payment type=\"crawl\">\n");
            out.push_str(&format!(
                "        <amount currency=\"{}\">{}</amount>\n",
                xml_escape(price.currency()),
                xml_escape(&price.amount())
            ));
            out.push_str("      </payment>\n");
            out.push_str("    </license>\n");
        }
    }
    out.push_str("  </content>\n");
    out.push_str("</rsl>\n");
    out
}

pub(crate) async fn robots(State(state): State<Arc<ApiState>>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], state.terms.robots_txt.clone()).into_response()
}

pub(crate) async fn tdmrep(State(state): State<Arc<ApiState>>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], state.terms.tdmrep_json.clone()).into_response()
}

pub(crate) async fn license(State(state): State<Arc<ApiState>>) -> Response {
    ([(header::CONTENT_TYPE, "application/rsl+xml")], state.terms.license_xml.clone()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_policy_grants_display_and_search_but_no_ai_use_by_default() {
        let policy = PolicyEngine::builtin().unwrap();
        let granted = granted_by_default(&policy, &ConsentDefaults::default());
        assert!(granted.contains(&Purpose::Display) && granted.contains(&Purpose::Search), "{granted:?}");
        for p in [Purpose::AiInput, Purpose::TrainAi, Purpose::TrainGenai] {
            assert!(!granted.contains(&p), "{p} is granted: {granted:?}");
        }
    }

    #[test]
    fn defaults_that_allow_everywhere_grant_ai_input_and_train_ai_but_the_agreement_still_withholds_train_genai() {
        let policy = PolicyEngine::builtin().unwrap();
        let defaults =
            ConsentDefaults { restricted_default: tollgate_domain::Tri::Allow, ..ConsentDefaults::default() };
        let granted = granted_by_default(&policy, &defaults);
        assert!(granted.contains(&Purpose::AiInput) && granted.contains(&Purpose::TrainAi), "{granted:?}");
        assert!(!granted.contains(&Purpose::TrainGenai), "{granted:?}");
        let terms = Terms::new(&policy, &defaults, "http://x", &TermsConfig::default());
        let robots = terms.robots_txt();
        assert!(robots.contains("Content-Usage: train-ai=n, train-genai=n, search=y"), "{robots}");
        assert!(robots.contains("Content-Signal: search=yes, ai-input=yes, ai-train=no"), "{robots}");
        // The answer engines are no longer turned away; the trainers are.
        assert!(!robots.contains("User-agent: PerplexityBot") && robots.contains("User-agent: GPTBot"), "{robots}");
    }

    #[test]
    fn disallows_answers_as_the_generated_robots_txt_does() {
        let policy = PolicyEngine::builtin().unwrap();
        let terms = Terms::new(&policy, &ConsentDefaults::default(), "http://x", &TermsConfig::default());
        // A trainer is turned away from content, never from the terms.
        assert!(terms.disallows(Some("GPTBot"), "/alice/status/5"));
        assert!(terms.disallows(Some("gptbot"), "/alice"));
        assert!(!terms.disallows(Some("GPTBot"), "/robots.txt"));
        // Everyone else reads the pages, not the API, the guard's paths or settings.
        assert!(!terms.disallows(None, "/alice/status/5"));
        for path in ["/2/tweets", "/_tg/l/abc", "/settings", "/internal/accounts"] {
            assert!(terms.disallows(None, path), "{path}");
        }
        assert!(terms.robots_txt().contains("Disallow: /_tg/\n"), "{}", terms.robots_txt());
        let (_, purpose) = terms.ai_agents().find(|(a, _)| *a == "GPTBot").unwrap();
        assert_eq!(purpose, Purpose::TrainGenai);
    }

    #[test]
    fn crawls_are_offered_at_their_price_only_when_sold() {
        let policy = PolicyEngine::builtin().unwrap();
        let defaults = ConsentDefaults::default();
        let unsold = Terms::new(&policy, &defaults, "http://x", &TermsConfig::default());
        assert!(!unsold.license_xml().contains("type=\"crawl\""), "{}", unsold.license_xml());
        let price = crate::guard_response::Price::parse("EUR 0.005").unwrap();
        let config = TermsConfig { crawl_price: Some(price), ..TermsConfig::default() };
        let sold = Terms::new(&policy, &defaults, "http://x", &config);
        let xml = sold.license_xml();
        assert!(
            xml.contains(
                "<permits type=\"usage\">ai-input,ai-train</permits>\n      <payment type=\"crawl\">\n        \
                 <amount currency=\"EUR\">0.005</amount>"
            ),
            "{xml}"
        );
    }

    #[test]
    fn a_policy_granting_everything_reserves_nothing() {
        let terms = Terms::from_granted(Purpose::ALL.to_vec(), "v", "http://x/", &TermsConfig::default());
        assert!(!terms.robots_txt().contains("Disallow: /\n"), "{}", terms.robots_txt());
        assert!(terms.tdmrep_json().contains("\"tdm-reservation\": 0"), "{}", terms.tdmrep_json());
        assert!(!terms.license_xml().contains("prohibits"), "{}", terms.license_xml());
        assert!(terms.tdm_policy.is_none());
    }

    #[test]
    fn robots_json_agents_are_read_and_bad_files_refused_with_the_reason() {
        let agents = parse_agents(
            r#"{"NewBot": {"operator": "[Newco](https://new.example)", "respect": "Yes"}, "iaskspider/2.0": {}}"#,
            "r.json",
        )
        .unwrap();
        assert_eq!(agents[0], AiAgent { name: "NewBot".into(), operator: "Newco".into(), uses: AgentUse::AnyAi });
        assert_eq!(agents[1].name, "iaskspider/2.0");
        let err = |text: &str| parse_agents(text, "r.json").unwrap_err().to_string();
        assert!(err("[\"GPTBot\"]").contains("not robots.json's format"), "{}", err("[]"));
        assert!(err("{").contains("`r.json`"));
        assert!(err("{}").contains("names no user agent"));
        assert!(err(r#"{"Bad\nBot": {}}"#).contains("control character"));
        assert!(err(r#"{"Bot": "x"}"#).contains("`Bot`"));
    }
}
