//! The public pages' HTML. Posts and profiles come only as `Released`
//! values, which only the deliverer builds (`INVARIANT (release-is-a-type)`),
//! and every value from outside this file goes through `esc`.
//!
//! The pages are readable without JavaScript (they carry none), with one
//! `h1` each, landmarks, a skip link, post times in `<time datetime>`, and
//! the usage terms in `meta` elements that say what the response's headers
//! say (`tollgate_deliver::UsageTerms`).

use std::fmt::Write as _;

use tollgate_deliver::{Delivery, Released, UsageTerms};
use tollgate_domain::{Account, Post, PostId, Reason};

use crate::html::{esc, time};
use crate::public::MessageKind;

/// The pages' one stylesheet, inline (its hash is in the Content Security
/// Policy, so no other style runs): system fonts, colours of at least 4.5:1
/// contrast (WCAG AA), a focus ring on every link.
pub const STYLE: &str = "\
:root { color: #1a1a1a; background: #ffffff; font-family: system-ui, sans-serif; line-height: 1.5; }
body { margin: 0 auto; max-width: 40rem; padding: 0 1rem 3rem; }
a { color: #0b4fb3; }
a:visited { color: #5a2d91; }
:focus-visible { outline: 3px solid #0b4fb3; outline-offset: 2px; }
.skip { position: absolute; left: -10000px; top: 0; background: #ffffff; padding: 0.5rem 1rem; }
.skip:focus { left: 1rem; }
header, footer { border-bottom: 1px solid #6b6b6b; margin-bottom: 1rem; }
footer { border-bottom: 0; border-top: 1px solid #6b6b6b; margin-top: 2rem; color: #4a4a4a; }
.brand { font-weight: 600; }
main:focus { outline: none; }
h1 { font-size: 1.5rem; }
.handle, .meta { color: #4a4a4a; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 1.125rem; }
.posts { list-style: none; padding: 0; }
.posts li { border-bottom: 1px solid #c4c4c4; padding: 0.5rem 0; }
.note { border-left: 6px solid #6b6b6b; background: #f5f5f5; padding: 0.5rem 1rem; }
.pages a { display: inline-block; margin-right: 1.5rem; padding: 0.25rem 0; }
";

/// What every page's frame needs.
pub struct Frame<'a> {
    /// The document's title (escaped here).
    pub title: &'a str,
    /// The usage terms the `meta` elements state (the headers state the same).
    pub terms: UsageTerms,
    /// The public URL without its final `/`.
    pub public_url: &'a str,
    /// The page's canonical URL, if it shows content.
    pub canonical: Option<&'a str>,
    /// The token of the response's hidden link (`crate::HiddenLink`).
    pub hidden: Option<&'a str>,
}

/// A whole page: the frame around `main` (already HTML).
fn document(f: &Frame<'_>, main: &str) -> String {
    let mut out = String::with_capacity(main.len() + STYLE.len() + 1536);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n",
        esc(f.title)
    );
    if let Some(robots) = f.terms.robots() {
        let _ = writeln!(out, "<meta name=\"robots\" content=\"{robots}\">");
    }
    let _ = writeln!(out, "<meta name=\"tdm-reservation\" content=\"{}\">", f.terms.tdm_reservation());
    if let Some(path) = f.terms.tdm_policy_path() {
        let _ = writeln!(out, "<meta name=\"tdm-policy\" content=\"{}{path}\">", esc(f.public_url));
    }
    let _ = writeln!(out, "<link rel=\"license\" href=\"{}/license.xml\">", esc(f.public_url));
    if let Some(url) = f.canonical {
        let _ = writeln!(out, "<link rel=\"canonical\" href=\"{}\">", esc(url));
    }
    let _ = write!(
        out,
        "<style>{STYLE}</style>\n</head>\n<body>\n<a class=\"skip\" href=\"#main\">Skip to main content</a>\n\
         <header><p class=\"brand\">Tollgate</p></header>\n<main id=\"main\" tabindex=\"-1\">\n{main}</main>\n\
         <footer><p>Automated use of these pages is governed by the <a href=\"{url}/license.xml\">license</a> \
         and <a href=\"/robots.txt\">robots.txt</a>.</p></footer>\n",
        url = esc(f.public_url)
    );
    if let Some(token) = f.hidden {
        // Never seen or reached by a person: `hidden` keeps it from being
        // rendered or focused, `aria-hidden` from being announced; only a
        // parser of the HTML finds it (the contract's hidden link).
        let _ = writeln!(
            out,
            "<div hidden aria-hidden=\"true\"><a href=\"/_tg/l/{}\" rel=\"nofollow\" tabindex=\"-1\">index</a></div>",
            esc(token)
        );
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// `https://host/handle/status/id`.
pub fn post_url(public_url: &str, handle: &str, id: PostId) -> String {
    format!("{public_url}/{handle}/status/{id}")
}

/// The post's text cut to `max` characters, for a title.
fn excerpt(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &flat[..at]),
        None => flat,
    }
}

/// `Name (@handle) on Tollgate: “text”`, as X titles a post's page.
pub fn post_title(post: &Released<Post>, author: Option<&Released<Account>>, handle: &str) -> String {
    match author {
        Some(a) => format!("{} (@{}) on Tollgate: “{}”", a.display_name, a.handle, excerpt(&post.text, 100)),
        None => format!("@{handle} on Tollgate: “{}”", excerpt(&post.text, 100)),
    }
}

pub fn profile_title(owner: &Released<Account>) -> String {
    format!("{} (@{}) · Tollgate", owner.display_name, owner.handle)
}

/// The `lang` attribute of a post's text, when its language is known and
/// spelled as a language tag.
fn lang_attr(lang: &str) -> String {
    let plausible = (2..=35).contains(&lang.len()) && lang.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if plausible && lang != "und" { format!(" lang=\"{}\"", esc(lang)) } else { String::new() }
}

/// A post's page.
pub fn post(f: &Frame<'_>, post: &Released<Post>, author: Option<&Released<Account>>, handle: &str) -> String {
    let handle = author.map_or(handle, |a| a.handle.as_str());
    let name = author.map_or(handle, |a| a.display_name.as_str());
    let mut m = String::with_capacity(post.text.len() * 2 + 1024);
    let _ = write!(
        m,
        "<article class=\"post\" aria-labelledby=\"post-title\">\n\
         <h1 id=\"post-title\">Post by <a href=\"/{h}\" rel=\"author\">{name}</a> <span class=\"handle\">@{h}</span></h1>\n\
         <p class=\"text\"{lang}>{text}</p>\n\
         <p class=\"meta\"><a href=\"/{h}/status/{id}\" rel=\"bookmark\">{time}</a></p>\n</article>\n",
        h = esc(handle),
        name = esc(name),
        lang = lang_attr(&post.lang),
        text = esc(&post.text),
        id = post.id,
        time = time(post.created_at),
    );
    document(f, &m)
}

/// What a profile page shows.
pub struct ProfilePage<'a> {
    pub owner: &'a Released<Account>,
    /// The delivery of this page's posts: those released, and the count of
    /// those withheld by reason.
    pub posts: &'a Delivery,
    /// The cursor of the next (older) page, if there is one.
    pub next: Option<&'a str>,
    /// Whether this is the newest page.
    pub first: bool,
}

/// A profile's page: the account and a page of its posts, newest first.
pub fn profile(f: &Frame<'_>, p: &ProfilePage<'_>) -> String {
    let h = esc(&p.owner.handle);
    let mut m = String::with_capacity(4096 + 400 * p.posts.posts.len());
    let _ = writeln!(m, "<h1>{} <span class=\"handle\">@{h}</span></h1>", esc(&p.owner.display_name));
    if !p.owner.description.is_empty() {
        let _ = writeln!(m, "<p class=\"bio\">{}</p>", esc(&p.owner.description));
    }
    let _ = writeln!(m, "<p class=\"meta\">Joined {}</p>", time(p.owner.created_at));
    let _ = writeln!(
        m,
        "<section aria-labelledby=\"posts-title\">\n<h2 id=\"posts-title\">{}</h2>",
        if p.first { "Posts" } else { "Older posts" }
    );
    if p.posts.posts.is_empty() {
        m.push_str("<p>No posts to show on this page.</p>\n");
    } else {
        m.push_str("<ol class=\"posts\">\n");
        for post in &p.posts.posts {
            let _ = writeln!(
                m,
                "<li><article><p class=\"text\"{lang}>{text}</p>\
                 <p class=\"meta\"><a href=\"/{h}/status/{id}\" rel=\"bookmark\">{time}</a></p></article></li>",
                lang = lang_attr(&post.lang),
                text = esc(&post.text),
                id = post.id,
                time = time(post.created_at),
            );
        }
        m.push_str("</ol>\n");
    }
    let withheld: u32 = p.posts.withheld_by_reason.values().sum();
    if withheld > 0 {
        let _ = write!(
            m,
            "<p class=\"note\">{withheld} {} of this page {} not shown here:",
            if withheld == 1 { "post" } else { "posts" },
            if withheld == 1 { "is" } else { "are" }
        );
        for (reason, n) in &p.posts.withheld_by_reason {
            let _ = write!(m, " <span data-reason=\"{r}\">{n} <code>{r}</code></span>", r = esc(reason.as_str()));
        }
        m.push_str(".</p>\n");
    }
    m.push_str("</section>\n");
    if !p.first || p.next.is_some() {
        m.push_str("<nav class=\"pages\" aria-label=\"Pages\">");
        if !p.first {
            let _ = write!(m, "<a href=\"/{h}\">Newest posts</a>");
        }
        if let Some(next) = p.next {
            let _ = write!(m, "<a href=\"/{h}?cursor={}\" rel=\"next\">Older posts</a>", esc(next));
        }
        m.push_str("</nav>\n");
    }
    document(f, &m)
}

/// Why an item is withheld, in a sentence for a person.
fn reason_text(reason: Reason) -> &'static str {
    match reason {
        Reason::DELETED => "It was deleted, or never existed.",
        Reason::AUTHOR_DEACTIVATED => "The author deactivated their account.",
        Reason::AUTHOR_SUSPENDED => "The author's account is suspended.",
        Reason::PROTECTED_ACCOUNT => "The author's posts are protected: only the people they approved see them.",
        Reason::MINOR => "The author is a minor, and their posts are not released for this use.",
        Reason::POST_NO_AI => "The author keeps this post out of every AI use.",
        Reason::AUTHOR_OPTED_OUT => "The author chose not to let their posts be used for this purpose.",
        Reason::AGREEMENT_PROHIBITS | Reason::NOT_LICENSED => {
            "Posts are not released for this use without a license: see the license terms below."
        }
        Reason::PURPOSE_NOT_DECLARED => "Posts are not released for this use.",
        _ => "The platform's policy does not release it to you.",
    }
}

fn reason_block(m: &mut String, reason: Reason) {
    let _ = writeln!(
        m,
        "<p class=\"note\" data-reason=\"{r}\">{} Reason: <code>{r}</code>.</p>",
        reason_text(reason),
        r = esc(reason.as_str())
    );
}

/// A page without content: not found, withheld, refused, a bad address.
pub fn message(f: &Frame<'_>, kind: MessageKind<'_>) -> String {
    let mut m = String::with_capacity(1024);
    let _ = writeln!(m, "<h1>{}</h1>", esc(kind.title()));
    match kind {
        MessageKind::NotFound => m.push_str("<p>There is no page at this address: no such account or post.</p>\n"),
        MessageKind::PostWithheld(reason) => reason_block(&mut m, reason),
        MessageKind::ProfileWithheld(handle, reason) => {
            let _ = writeln!(m, "<p>The account @{} is not shown here.</p>", esc(handle));
            reason_block(&mut m, reason);
        }
        MessageKind::Refused(reason) => {
            m.push_str("<p>This site does not release its pages for the use this request was taken for.</p>\n");
            reason_block(&mut m, reason);
        }
        MessageKind::BadCursor { handle, cursor } => {
            let _ = writeln!(
                m,
                "<p>The <code>cursor</code> value <code>{}</code> is not one this site gave out.</p>\n\
                 <p><a href=\"/{h}\">See the newest posts of @{h}</a>.</p>",
                esc(cursor),
                h = esc(handle)
            );
        }
        MessageKind::MethodNotAllowed => m.push_str("<p>Pages here are read with <code>GET</code> only.</p>\n"),
        MessageKind::Failed => {
            m.push_str("<p>The server could not answer this request. Please try again in a moment.</p>\n")
        }
    }
    document(f, &m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_cut_on_characters_and_flatten_whitespace() {
        assert_eq!(excerpt("a  b\nc", 10), "a b c");
        assert_eq!(excerpt("ääääää", 3), "äää…");
    }

    #[test]
    fn lang_is_kept_only_when_it_is_a_tag() {
        assert_eq!(lang_attr("en"), " lang=\"en\"");
        assert_eq!(lang_attr("und"), "");
        assert_eq!(lang_attr("\"><x"), "");
    }

    #[test]
    fn the_frame_states_reserved_terms_and_hides_the_hidden_link() {
        let f = Frame {
            title: "<t>",
            terms: UsageTerms::RESERVED,
            public_url: "http://h",
            canonical: None,
            hidden: Some("tok\"en"),
        };
        let html = document(&f, "");
        assert!(html.contains("<meta name=\"robots\" content=\"noai, noimageai\">"));
        assert!(html.contains("<meta name=\"tdm-reservation\" content=\"1\">"));
        assert!(html.contains("<link rel=\"license\" href=\"http://h/license.xml\">"));
        assert!(html.contains("<title>&lt;t&gt;</title>"));
        assert!(html.contains(
            "<div hidden aria-hidden=\"true\"><a href=\"/_tg/l/tok&quot;en\" rel=\"nofollow\" tabindex=\"-1\">"
        ));
    }
}
