//! What the simulator reads out of responses: the post ids a response served
//! (from the API's JSON and from the public pages' HTML), the links a crawler
//! follows, the challenge form, cookies and robots.txt rules. Deliberately
//! plain string scanning: the simulator must not depend on the page layout
//! beyond the few markers the pages promise.

use std::collections::BTreeSet;

use serde_json::Value;

/// The post ids a `200` response served. Under `/2/tweets` and
/// `/2/users/{id}/tweets` they are the `id`s of `data` (and of
/// `includes.tweets`); other API responses (users) serve no posts. An HTML
/// page serves the posts of its `<article data-post-id="...">` elements, or,
/// where it has none, those its `/status/<id>` permalinks name.
pub fn served_post_ids(path: &str, content_type: &str, body: &[u8]) -> BTreeSet<u64> {
    let path = path.split('?').next().unwrap_or(path);
    if path.starts_with("/2/") {
        let posts = path.starts_with("/2/tweets") || (path.starts_with("/2/users/") && path.ends_with("/tweets"));
        if !posts || path.contains("/compliance") {
            return BTreeSet::new();
        }
        return json_post_ids(body);
    }
    if content_type.starts_with("text/html") {
        return html_post_ids(&String::from_utf8_lossy(body));
    }
    BTreeSet::new()
}

fn json_post_ids(body: &[u8]) -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    let Ok(v) = serde_json::from_slice::<Value>(body) else { return out };
    let mut take = |item: &Value| {
        if let Some(id) = item.get("id").and_then(id_of) {
            out.insert(id);
        }
    };
    match v.get("data") {
        Some(Value::Array(items)) => items.iter().for_each(&mut take),
        Some(item @ Value::Object(_)) => take(item),
        _ => {}
    }
    if let Some(Value::Array(items)) = v.pointer("/includes/tweets") {
        items.iter().for_each(take);
    }
    out
}

fn id_of(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// The ids of `data-post-id="..."` attributes, else of `/status/<id>` links.
pub fn html_post_ids(html: &str) -> BTreeSet<u64> {
    let articles = digits_after(html, "data-post-id=\"");
    if !articles.is_empty() {
        return articles;
    }
    hrefs(html).iter().filter_map(|h| status_id(h)).collect()
}

/// The post id of a permalink path `/{handle}/status/{id}`.
pub fn status_id(path: &str) -> Option<u64> {
    let path = path.split(['?', '#']).next()?;
    let mut parts = path.trim_start_matches('/').split('/');
    let (_handle, status, id) = (parts.next()?, parts.next()?, parts.next()?);
    if status != "status" || parts.next().is_some() {
        return None;
    }
    id.parse().ok()
}

fn digits_after(text: &str, marker: &str) -> BTreeSet<u64> {
    text.match_indices(marker)
        .filter_map(|(at, _)| {
            let rest = &text[at + marker.len()..];
            let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            rest[..end].parse().ok()
        })
        .collect()
}

/// Every `href="..."` of the page, in order, site-relative ones only
/// (entities `&amp;` decoded).
pub fn hrefs(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _) in html.match_indices("href=\"") {
        let rest = &html[at + 6..];
        let Some(end) = rest.find('"') else { continue };
        let href = rest[..end].replace("&amp;", "&");
        if href.starts_with('/') && !href.starts_with("//") {
            out.push(href);
        }
    }
    out
}

/// The links a visitor who sees the page could follow: those not inside an
/// element hidden from people (`hidden`, `aria-hidden="true"`), judged by
/// the opening tag of the link itself and of its enclosing element on the
/// same line, which is how the pages mark their hidden link.
pub fn visible_hrefs(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _) in html.match_indices("href=\"") {
        let tag_start = html[..at].rfind('<').unwrap_or(0);
        let line_start = html[..at].rfind('\n').map_or(0, |i| i + 1);
        let context = &html[line_start.min(tag_start)..at];
        if context.contains(" hidden") || context.contains("aria-hidden=\"true\"") {
            continue;
        }
        let rest = &html[at + 6..];
        let Some(end) = rest.find('"') else { continue };
        let href = rest[..end].replace("&amp;", "&");
        if href.starts_with('/') && !href.starts_with("//") && !href.starts_with("/_tg/") {
            out.push(href);
        }
    }
    out
}

/// The challenge form: its action and hidden inputs (`token`, `return`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeForm {
    pub action: String,
    pub fields: Vec<(String, String)>,
}

/// Finds the `<form method="post" action="...">` of a challenge page and its
/// hidden inputs.
pub fn challenge_form(html: &str) -> Option<ChallengeForm> {
    let form_at = html.find("<form")?;
    let form_tag = &html[form_at..form_at + html[form_at..].find('>')?];
    let action = attr(form_tag, "action")?.replace("&amp;", "&");
    let end = html[form_at..].find("</form>").map_or(html.len(), |e| form_at + e);
    let mut fields = Vec::new();
    for (at, _) in html[form_at..end].match_indices("<input") {
        let start = form_at + at;
        let tag = &html[start..start + html[start..].find('>').unwrap_or(0)];
        if let (Some(name), Some(value)) = (attr(tag, "name"), attr(tag, "value")) {
            fields.push((name, value.replace("&amp;", "&").replace("&quot;", "\"")));
        }
    }
    Some(ChallengeForm { action, fields })
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let marker = format!(" {name}=\"");
    let at = tag.find(&marker)? + marker.len();
    let end = tag[at..].find('"')?;
    Some(tag[at..at + end].to_owned())
}

/// `application/x-www-form-urlencoded` of the fields.
pub fn form_urlencode(fields: &[(String, String)]) -> String {
    fields.iter().map(|(k, v)| format!("{}={}", percent(k), percent(v))).collect::<Vec<_>>().join("&")
}

fn percent(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The `name=value` pair a `Set-Cookie` header sets.
pub fn set_cookie_pair(header: &str) -> Option<(String, String)> {
    let pair = header.split(';').next()?.trim();
    let (name, value) = pair.split_once('=')?;
    (!name.is_empty()).then(|| (name.to_owned(), value.to_owned()))
}

/// The rules robots.txt gives one user-agent token: the group naming it
/// (case-insensitively, as a prefix of the token per RFC 9309's matching of
/// product tokens), else the `*` group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Robots {
    /// `(allow, path prefix)`.
    rules: Vec<(bool, String)>,
}

impl Robots {
    pub fn parse(text: &str, token: &str) -> Robots {
        let token = token.to_ascii_lowercase();
        let (mut mine, mut star) = (Vec::new(), Vec::new());
        let (mut agents, mut in_rules): (Vec<String>, bool) = (Vec::new(), false);
        let mut found_mine = false;
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            let Some((key, value)) = line.split_once(':') else { continue };
            let (key, value) = (key.trim().to_ascii_lowercase(), value.trim().to_owned());
            match key.as_str() {
                "user-agent" => {
                    if in_rules {
                        agents.clear();
                        in_rules = false;
                    }
                    agents.push(value.to_ascii_lowercase());
                }
                "allow" | "disallow" => {
                    in_rules = true;
                    if value.is_empty() {
                        continue;
                    }
                    let rule = (key == "allow", value);
                    if agents.contains(&token) {
                        found_mine = true;
                        mine.push(rule.clone());
                    }
                    if agents.iter().any(|a| a == "*") {
                        star.push(rule);
                    }
                }
                _ => {}
            }
        }
        Robots { rules: if found_mine { mine } else { star } }
    }

    /// Whether the path may be fetched: the longest matching rule wins, an
    /// allow on a tie; no rule allows.
    pub fn allows(&self, path: &str) -> bool {
        let mut best: Option<(usize, bool)> = None;
        for (allow, prefix) in &self.rules {
            let prefix = prefix.trim_end_matches('*');
            if path.starts_with(prefix) {
                let better = match best {
                    None => true,
                    Some((len, a)) => prefix.len() > len || (prefix.len() == len && *allow && !a),
                };
                if better {
                    best = Some((prefix.len(), *allow));
                }
            }
        }
        best.is_none_or(|(_, allow)| allow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_ids_come_from_the_apis_json() {
        let one = br#"{"data":{"id":"17","text":"x","author_id":"3"}}"#;
        assert_eq!(served_post_ids("/2/tweets/17", "application/json", one), BTreeSet::from([17]));
        let many =
            br#"{"data":[{"id":"1"},{"id":"2"}],"includes":{"tweets":[{"id":"9"}]},"errors":[{"resource_id":"5"}]}"#;
        assert_eq!(served_post_ids("/2/tweets?ids=1,2,5", "application/json", many), BTreeSet::from([1, 2, 9]));
        assert_eq!(served_post_ids("/2/users/3/tweets", "application/json", many), BTreeSet::from([1, 2, 9]));
        // Users are not posts; errors are not content.
        assert!(served_post_ids("/2/users/3", "application/json", br#"{"data":{"id":"3"}}"#).is_empty());
        assert!(
            served_post_ids("/2/tweets/5", "application/json", br#"{"errors":[{"title":"Not Found"}]}"#).is_empty()
        );
    }

    #[test]
    fn post_ids_come_from_the_pages_html() {
        let page = r#"<main><article data-post-id="101"><a href="/ann/status/101">1m</a>
            <a href="/bob/status/7">replying to</a></article><article data-post-id="102"></article>
            <div hidden aria-hidden="true"><a href="/_tg/l/abc" tabindex="-1" rel="nofollow">x</a></div></main>"#;
        assert_eq!(served_post_ids("/ann", "text/html; charset=utf-8", page.as_bytes()), BTreeSet::from([101, 102]));
        let permalinks_only = r#"<a href="/ann/status/5">a</a> <a href="/ann/status/6?x=1">b</a> <a href="/ann">c</a>"#;
        assert_eq!(html_post_ids(permalinks_only), BTreeSet::from([5, 6]));
        assert!(served_post_ids("/ann", "text/plain", page.as_bytes()).is_empty());
        assert_eq!(status_id("/ann/status/42"), Some(42));
        assert_eq!(status_id("/ann/status/42/likes"), None);
        assert_eq!(status_id("/ann"), None);
        assert!(hrefs(page).contains(&"/_tg/l/abc".to_owned()));
        assert_eq!(visible_hrefs(page), vec!["/ann/status/101".to_owned(), "/bob/status/7".to_owned()]);
    }

    #[test]
    fn post_ids_come_from_the_public_pages_as_crates_web_renders_them() {
        // A profile page as `crates/web` renders it (docs/pages.md): bookmark
        // permalinks of the posts shown, a withheld post's note without a
        // link, the footer's links and the hidden link.
        let profile = "<body>\n<a class=\"skip\" href=\"#main\">Skip to main content</a>\n\
            <h1>Ada <span class=\"handle\">@ada</span></h1>\n<ol class=\"posts\">\n\
            <li><article><p class=\"text\" lang=\"en\">one</p><p class=\"meta\"><a href=\"/ada/status/2006517326572497873\" rel=\"bookmark\">Jan 1</a></p></article></li>\n\
            <li><article><p class=\"text\">two</p><p class=\"meta\"><a href=\"/ada/status/2006517326572497001\" rel=\"bookmark\">Jan 1</a></p></article></li>\n\
            </ol>\n<p class=\"note\" data-reason=\"author-opt-out\">1 post withheld.</p>\n<a href=\"/ada?cursor=abc\" rel=\"next\">Older posts</a>\n\
            <footer><p>See the <a href=\"http://h/license.xml\">license</a> and <a href=\"/robots.txt\">robots.txt</a>.</p></footer>\n\
            <div hidden aria-hidden=\"true\"><a href=\"/_tg/l/AbC-12_x\" rel=\"nofollow\" tabindex=\"-1\">index</a></div>\n</body>";
        let ids = served_post_ids("/ada", "text/html; charset=utf-8", profile.as_bytes());
        assert_eq!(ids, BTreeSet::from([2006517326572497001, 2006517326572497873]));
        assert!(hrefs(profile).contains(&"/_tg/l/AbC-12_x".to_owned()));
        assert!(!visible_hrefs(profile).iter().any(|h| h.starts_with("/_tg/")));
        assert!(visible_hrefs(profile).contains(&"/ada?cursor=abc".to_owned()));
        let post = "<article class=\"post\" aria-labelledby=\"post-title\">\n<h1 id=\"post-title\">Post by <a href=\"/ada\" rel=\"author\">Ada</a></h1>\n\
            <p class=\"meta\"><a href=\"/ada/status/17\" rel=\"bookmark\">Jan 1</a></p>\n</article>\n";
        assert_eq!(
            served_post_ids("/ada/status/17", "text/html; charset=utf-8", post.as_bytes()),
            BTreeSet::from([17])
        );
    }

    #[test]
    fn the_challenge_form_is_read_and_encoded() {
        let page = r#"<form method="post" action="/_tg/challenge"><input type="hidden" name="token" value="a.b+c/=">
            <input type="hidden" name="return" value="/ann/status/1?x=1&amp;y=2"><button type="submit">Continue</button></form>"#;
        let form = challenge_form(page).unwrap();
        assert_eq!(form.action, "/_tg/challenge");
        assert_eq!(form_urlencode(&form.fields), "token=a.b%2Bc%2F%3D&return=%2Fann%2Fstatus%2F1%3Fx%3D1%26y%3D2");
        assert_eq!(set_cookie_pair("tg_pass=abc.def; Path=/; HttpOnly"), Some(("tg_pass".into(), "abc.def".into())));
    }

    #[test]
    fn robots_rules_pick_the_agents_group() {
        let robots = "User-agent: GPTBot\nUser-agent: CCBot\nAllow: /robots.txt\nDisallow: /\n\nUser-agent: *\nAllow: /\nDisallow: /2/\nDisallow: /_tg/\n";
        let gpt = Robots::parse(robots, "GPTBot");
        assert!(!gpt.allows("/ann/status/1") && gpt.allows("/robots.txt"));
        let other = Robots::parse(robots, "Searchbot");
        assert!(other.allows("/ann/status/1") && !other.allows("/_tg/l/x") && !other.allows("/2/tweets"));
        assert!(Robots::parse("", "x").allows("/anything"));
    }
}
