//! User agents: which browser or tool a `User-Agent` names, its major
//! version, whether the version is long out of date, and which known AI
//! crawler or verifying crawler it names.
//!
//! A user agent is a claim, not an identity: anyone can send any string.
//! What it is good for is what clients say of themselves (a declared AI
//! crawler, a library's default string) and what careless fleets leave
//! (browser versions years old, the same string from many addresses).

use tollgate_domain::Purpose;

/// How current browsers are, and how far behind a browser may be before its
/// user agent counts as stale. Browsers update themselves, so versions far
/// behind the current one are mostly scripts that copied a string once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaleAgents {
    pub chrome: Currency,
    pub firefox: Currency,
    pub safari: Currency,
    pub edge: Currency,
}

/// A browser's current major version and how many majors behind it is
/// still current enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency {
    pub current: u32,
    pub max_behind: u32,
}

impl Default for StaleAgents {
    /// Current majors as of December 2026; Chrome, Edge and Firefox ship a
    /// major every four weeks (12 majors: about a year), Safari once a year.
    fn default() -> StaleAgents {
        StaleAgents {
            chrome: Currency { current: 142, max_behind: 12 },
            firefox: Currency { current: 145, max_behind: 12 },
            safari: Currency { current: 26, max_behind: 2 },
            edge: Currency { current: 142, max_behind: 12 },
        }
    }
}

impl StaleAgents {
    /// Whether `family` at major `version` is more than `max_behind` majors
    /// behind its current one. Only the four browsers above can be stale.
    pub fn is_stale(&self, family: &str, version: u32) -> bool {
        let currency = match family {
            "chrome" => self.chrome,
            "firefox" => self.firefox,
            "safari" => self.safari,
            "edge" => self.edge,
            _ => return false,
        };
        currency.current.saturating_sub(version) > currency.max_behind
    }
}

/// What a user agent says of itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Agent {
    /// `chrome`, `firefox`, `safari`, `edge`, a tool's name, or empty when
    /// the string names nothing known.
    pub family: Family,
    pub version: Option<u32>,
    /// A library, a command-line tool, a headless browser, or anything that
    /// calls itself a bot, crawler or spider.
    pub tool: bool,
}

/// An agent family: one of ours, or the word of the user agent that named
/// a bot (`examplebot`), kept as its byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Known(&'static str),
    Word(usize, usize),
    None,
}

/// Headless Chrome: a browser driven by a script, a tool.
const HEADLESS: &str = "HeadlessChrome";

/// Browsers, most specific first: Edge and the iOS browsers also say
/// `Safari/`, Chrome-based browsers also say `Chrome/`. Mobile variants
/// report their browser's family, since their majors follow the desktop
/// ones (iOS Safari's follows iOS, as desktop Safari's follows macOS).
/// Each is a word followed by `/` and the version.
/// Browsers built on an older Chromium than Chrome's own come before
/// `Chrome`, under their own family, which is never stale: their `Chrome/`
/// token lags behind Chrome's by design.
const BROWSERS: &[(&str, &str)] = &[
    ("Edg", "edge"),
    ("SamsungBrowser", "samsung-internet"),
    ("OPR", "opera"),
    ("YaBrowser", "yandex-browser"),
    ("UCBrowser", "uc-browser"),
    ("EdgA", "edge"),
    ("EdgiOS", "edge"),
    ("CriOS", "chrome"),
    ("FxiOS", "firefox"),
    ("Firefox", "firefox"),
    ("Chrome", "chrome"),
];

/// Libraries and tools, by the product token they send, case-insensitively:
/// a token ending in `/` is a whole word followed by `/` and the version;
/// one without matches the start of a word (`undici`, `Puppeteer...`).
const TOOLS: &[(&str, &str)] = &[
    ("curl/", "curl"),
    ("wget/", "wget"),
    ("python-requests/", "python-requests"),
    ("python-urllib/", "python-urllib"),
    ("python-httpx/", "python-httpx"),
    ("aiohttp/", "aiohttp"),
    ("go-http-client/", "go-http-client"),
    ("scrapy/", "scrapy"),
    ("okhttp/", "okhttp"),
    ("axios/", "axios"),
    ("node-fetch/", "node-fetch"),
    ("undici", "undici"),
    ("java/", "java"),
    ("apache-httpclient/", "apache-httpclient"),
    ("libwww-perl/", "libwww-perl"),
    ("postmanruntime/", "postman"),
    ("httpie/", "httpie"),
    ("puppeteer", "puppeteer"),
    ("playwright", "playwright"),
    ("phantomjs", "phantomjs"),
];

/// Parses a user agent (already cut to a bounded length).
pub(crate) fn parse(ua: &str, stale_guard: &StaleAgents) -> (Agent, bool) {
    let agent = classify(ua);
    let stale = match (agent.family, agent.version) {
        (Family::Known(family), Some(v)) if !agent.tool => stale_guard.is_stale(family, v),
        _ => false,
    };
    (agent, stale)
}

fn classify(ua: &str) -> Agent {
    if ua.trim().is_empty() {
        // Every browser sends a user agent; no string at all is a script.
        return Agent { family: Family::None, version: None, tool: true };
    }
    // One pass over the words. Tools and bots end it: crawlers often send
    // a browser's string with their own token added (`... Chrome/142.0
    // Mobile Safari/537.36 (compatible; Googlebot/2.1; ...)`), so they win
    // over any browser token. Browser tokens are noted, the most specific
    // one decides after the pass.
    let mut browser: Option<(usize, usize)> = None; // (index in BROWSERS, word end)
    let (mut version_at, mut safari, mut chromium) = (None, false, false);
    for (start, end) in words(ua) {
        let word = &ua[start..end];
        if word == HEADLESS {
            return Agent { family: Family::Known("headless-chrome"), version: major_after(ua, end), tool: true };
        }
        let bytes = word.as_bytes();
        for (token, family) in TOOLS {
            let hit = match token.strip_suffix('/') {
                Some(name) => bytes.eq_ignore_ascii_case(name.as_bytes()) && ua[end..].starts_with('/'),
                None => bytes.len() >= token.len() && bytes[..token.len()].eq_ignore_ascii_case(token.as_bytes()),
            };
            if hit {
                return Agent { family: Family::Known(family), version: major_after(ua, end), tool: true };
            }
        }
        if names_a_bot(bytes) {
            return Agent { family: Family::Word(start, end), version: major_after(ua, end), tool: true };
        }
        if let Some(index) = BROWSERS.iter().position(|(token, _)| *token == word)
            && ua[end..].starts_with('/')
            && browser.is_none_or(|(best, _)| index < best)
        {
            browser = Some((index, end));
        }
        match word {
            "Version" if version_at.is_none() => version_at = Some(end),
            "Safari" => safari = true,
            "Chromium" => chromium = true,
            _ => {}
        }
    }
    if let Some((index, end)) = browser {
        return Agent { family: Family::Known(BROWSERS[index].1), version: major_after(ua, end), tool: false };
    }
    // Safari last: many others carry `Safari/` and `Version/` too.
    if let (true, false, Some(end)) = (safari, chromium, version_at) {
        return Agent { family: Family::Known("safari"), version: major_after(ua, end), tool: false };
    }
    Agent { family: Family::None, version: None, tool: false }
}

/// A word that says it is automated: `bot`, `crawler`, `spider` anywhere in
/// it (`Googlebot`, `AhrefsBot`, `Sogou web spider`).
fn names_a_bot(word: &[u8]) -> bool {
    let has = |needle: &[u8]| word.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle));
    has(b"bot") || has(b"crawler") || has(b"spider")
}

/// The leading decimal digits, if any and if they fit.
fn major(rest: &str) -> Option<u32> {
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 6 {
        return None;
    }
    rest[..digits].parse().ok()
}

/// The major version after a word ending at `end`, if a `/` follows it.
fn major_after(ua: &str, end: usize) -> Option<u32> {
    ua.get(end..)?.strip_prefix('/').and_then(major)
}

/// The words of a user agent: runs of bytes between separators, as byte
/// ranges. A product token (`GPTBot/1.1`) is one word (`GPTBot`) followed
/// by its version.
pub(crate) fn words(ua: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let bytes = ua.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < bytes.len() && is_separator(bytes[at]) {
            at += 1;
        }
        if at >= bytes.len() {
            return None;
        }
        let start = at;
        while at < bytes.len() && !is_separator(bytes[at]) {
            at += 1;
        }
        Some((start, at))
    })
}

fn is_separator(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'/' | b';' | b'(' | b')' | b',' | b'+' | b'=' | b':' | b'"' | b'[' | b']')
}

/// User-agent tokens to find as whole words, case-insensitively: the known
/// AI crawlers' and the verifying crawlers'. Built once; a lookup hashes
/// each word of the user agent once.
#[derive(Debug, Clone, Default)]
pub(crate) struct TokenSet {
    /// Lower-cased token → index in the caller's list.
    by_word: std::collections::HashMap<Box<[u8]>, usize, BuildFast>,
    /// Bit n set: some token is n bytes long (n < 64); longer always looked up.
    lengths: u64,
}

impl TokenSet {
    pub(crate) fn new<'a>(tokens: impl IntoIterator<Item = &'a str>) -> TokenSet {
        let mut set = TokenSet::default();
        for (index, token) in tokens.into_iter().enumerate() {
            let key: Box<[u8]> = token.to_ascii_lowercase().into_bytes().into();
            set.lengths |= 1u64.checked_shl(key.len() as u32).unwrap_or(0);
            set.by_word.entry(key).or_insert(index);
        }
        set
    }

    /// The index of the first token (in the list's order) that is a word of
    /// `ua`, and where that word ends in `ua`.
    pub(crate) fn find(&self, ua: &str) -> Option<(usize, usize)> {
        if self.by_word.is_empty() {
            return None;
        }
        let mut buffer = [0u8; 64];
        let mut best: Option<(usize, usize)> = None;
        for (start, end) in words(ua) {
            let len = end - start;
            if len >= 64 || self.lengths & (1 << len) == 0 {
                continue;
            }
            let word = &mut buffer[..len];
            word.copy_from_slice(&ua.as_bytes()[start..end]);
            word.make_ascii_lowercase();
            if let Some(&index) = self.by_word.get(&*word)
                && best.is_none_or(|(b, _)| index < b)
            {
                best = Some((index, end));
            }
        }
        best
    }
}

/// The AI crawlers whose tokens the caller passed in (the terms' list of
/// known AI agents), with the use each operator declares.
#[derive(Debug, Clone, Default)]
pub(crate) struct AiAgents {
    pub tokens: TokenSet,
    pub agents: Vec<(String, Purpose)>,
}

impl AiAgents {
    pub(crate) fn new(agents: Vec<(String, Purpose)>) -> AiAgents {
        AiAgents { tokens: TokenSet::new(agents.iter().map(|(t, _)| t.as_str())), agents }
    }

    /// The AI crawler `ua` names, and the major version after its token.
    pub(crate) fn find(&self, ua: &str) -> Option<(&(String, Purpose), Option<u32>)> {
        let (index, end) = self.tokens.find(ua)?;
        Some((self.agents.get(index)?, major_after(ua, end)))
    }
}

/// A fast hasher for short keys (user-agent words): multiply-rotate over 8
/// bytes at a time. Not resistant to chosen collisions, which costs nothing
/// here: the keys are the operator's tokens, and a probe that collides only
/// takes one more comparison.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BuildFast;

impl std::hash::BuildHasher for BuildFast {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher(0)
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = super::fingerprint::mix_bytes(self.0, bytes);
    }
    fn finish(&self) -> u64 {
        super::fingerprint::finish(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn family(ua: &str) -> (String, Option<u32>, bool, bool) {
        let (agent, stale) = parse(ua, &StaleAgents::default());
        let name = match agent.family {
            Family::Known(f) => f.to_owned(),
            Family::Word(s, e) => ua[s..e].to_ascii_lowercase(),
            Family::None => String::new(),
        };
        (name, agent.version, agent.tool, stale)
    }

    fn f(name: &str, version: Option<u32>, tool: bool, stale: bool) -> (String, Option<u32>, bool, bool) {
        (name.to_owned(), version, tool, stale)
    }

    #[test]
    fn browsers_and_their_majors() {
        let cases = [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36",
                f("chrome", Some(142), false, false),
            ),
            (
                "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Mobile Safari/537.36",
                f("chrome", Some(141), false, false),
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/142.0.7444.46 Mobile/15E148 Safari/604.1",
                f("chrome", Some(142), false, false),
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:145.0) Gecko/20100101 Firefox/145.0",
                f("firefox", Some(145), false, false),
            ),
            (
                "Mozilla/5.0 (Android 14; Mobile; rv:144.0) Gecko/144.0 Firefox/144.0",
                f("firefox", Some(144), false, false),
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/145.0 Mobile/15E148 Safari/605.1.15",
                f("firefox", Some(145), false, false),
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.0 Safari/605.1.15",
                f("safari", Some(26), false, false),
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 26_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.0 Mobile/15E148 Safari/604.1",
                f("safari", Some(26), false, false),
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36 Edg/142.0.0.0",
                f("edge", Some(142), false, false),
            ),
            (
                "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Mobile Safari/537.36 EdgA/142.0.0.0",
                f("edge", Some(142), false, false),
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/28.0 Chrome/125.0.0.0 Mobile Safari/537.36",
                f("samsung-internet", Some(28), false, false),
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36 OPR/111.0.0.0",
                f("opera", Some(111), false, false),
            ),
        ];
        for (ua, expected) in cases {
            assert_eq!(family(ua), expected, "{ua}");
        }
    }

    #[test]
    fn browsers_far_behind_are_stale() {
        let chrome = |v: u32| {
            format!(
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36"
            )
        };
        assert!(!family(&chrome(130)).3, "12 behind is still current");
        assert!(family(&chrome(129)).3, "13 behind is stale");
        assert!(family(&chrome(58)).3);
        assert!(!family(&chrome(150)).3, "newer than configured is not stale");
        let safari = |v: u32| {
            format!("Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{v}.1 Safari/605.1.15")
        };
        assert!(!family(&safari(24)).3 && family(&safari(23)).3);
        assert!(family("Mozilla/5.0 (X11; rv:100.0) Gecko/20100101 Firefox/100.0").3);
        assert!(!family("Mozilla/5.0 (X11; rv:133.0) Gecko/20100101 Firefox/133.0").3);
        let custom = StaleAgents { chrome: Currency { current: 200, max_behind: 1 }, ..StaleAgents::default() };
        assert!(parse(&chrome(142), &custom).1 && !parse(&chrome(199), &custom).1);
        assert!(!family("Mozilla/5.0 HeadlessChrome/60.0.0.0 Safari/537.36").3, "a tool is not a stale browser");
    }

    #[test]
    fn tools_and_self_declared_bots() {
        let cases = [
            ("curl/8.5.0", f("curl", Some(8), true, false)),
            ("python-requests/2.32.3", f("python-requests", Some(2), true, false)),
            ("Python/3.12 aiohttp/3.10.5", f("aiohttp", Some(3), true, false)),
            ("Go-http-client/1.1", f("go-http-client", Some(1), true, false)),
            ("Go-http-client/2.0", f("go-http-client", Some(2), true, false)),
            ("Scrapy/2.11.2 (+https://scrapy.org)", f("scrapy", Some(2), true, false)),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/142.0.0.0 Safari/537.36",
                f("headless-chrome", Some(142), true, false),
            ),
            (
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                f("googlebot", Some(2), true, false),
            ),
            (
                "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
                f("ahrefsbot", Some(7), true, false),
            ),
            ("Sogou web spider/4.0", f("spider", Some(4), true, false)),
            (
                "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.7444.59 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                f("googlebot", Some(2), true, false),
            ),
            ("my-crawler", f("my-crawler", None, true, false)),
            ("", f("", None, true, false)),
            ("Mozilla/5.0", f("", None, false, false)),
            ("Chrome/", f("chrome", None, false, false)),
            ("Chrome/99999999999999999999", f("chrome", None, false, false)),
        ];
        for (ua, expected) in cases {
            assert_eq!(family(ua), expected, "{ua:?}");
        }
    }

    #[test]
    fn tokens_match_whole_words_in_any_case() {
        let set = TokenSet::new(["GPTBot", "ClaudeBot", "cohere-training-data-crawler", "CCBot"]);
        let ua =
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)";
        let found = |ua: &str| set.find(ua).map(|(index, _)| index);
        assert_eq!(set.find(ua).map(|(index, end)| (index, &ua[end..end + 4])), Some((0, "/1.2")));
        assert_eq!(found("Mozilla/5.0 (compatible; claudebot/1.0; +claudebot@anthropic.com)"), Some(1));
        assert_eq!(found("cohere-training-data-crawler/1.0"), Some(2));
        assert_eq!(found("CCBot/2.0 (https://commoncrawl.org/faq/)"), Some(3));
        assert_eq!(found("CCBot/2.0 GPTBot/1.0"), Some(0), "the list's order decides");
        assert_eq!(set.find("NotGPTBot/1.0"), None, "a token inside another word does not count");
        assert_eq!(set.find("Mozilla/5.0 Chrome/142.0.0.0"), None);
        assert_eq!(TokenSet::new([]).find(ua), None);
    }
}
