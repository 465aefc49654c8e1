//! A synthetic platform: accounts and posts with the shapes that matter to
//! Tollgate's decisions (regions, minors, protected and suspended accounts,
//! AI preferences, `no_ai` and deleted posts, reply threads) and the skew real
//! platforms have (a few authors write most posts).
//!
//! The output is a pure function of [`GenerateOptions`]: the same options give
//! byte-identical files on every machine, so a benchmark or a bug report can
//! name a dataset by its seed. Nothing reads the clock.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::time::{Duration, Instant};

use tollgate_domain::{
    Account, AccountId, AccountStatus, AiPreferences, Category, Post, PostId, Preference, Scope, Timestamp, Tri,
};

use crate::lang::{self, LANGUAGES, Language, REGIONS};
use crate::rng::{self, Rng};

const SECOND: i64 = 1000;
const HOUR: i64 = 3600 * SECOND;
const DAY: i64 = 24 * HOUR;

/// The first instant of 2026 (UTC): the default start of the posting window.
pub const DEFAULT_START: Timestamp = Timestamp::from_millis(1_767_225_600_000);

/// Accounts are created from here on (after X's snowflake epoch, so their ids
/// can be minted like X's).
const ACCOUNTS_FROM: Timestamp = Timestamp::from_millis(1_291_161_600_000); // 2010-12-01

/// Preferences were first set from here on (when X's terms started to speak of
/// AI training).
const PREFERENCES_FROM: Timestamp = Timestamp::from_millis(1_725_148_800_000); // 2024-09-01

/// The earliest `start` accepted: post ids are minted as snowflakes.
const EARLIEST_START: Timestamp = Timestamp::from_millis(1_293_840_000_000); // 2011-01-01

/// What to generate. The same options always produce the same bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    pub accounts: u64,
    pub posts: u64,
    pub seed: u64,
    /// The start of the posting window. A fixed instant rather than "now", so
    /// that the output does not depend on when it was generated.
    pub start: Timestamp,
    /// The length of the posting window in days.
    pub days: u32,
}

/// The demo platform: 10,000 accounts, 200,000 posts, seed 42, 120 days from
/// 2026-01-01.
pub fn demo_defaults() -> GenerateOptions {
    GenerateOptions { accounts: 10_000, posts: 200_000, seed: 42, start: DEFAULT_START, days: 120 }
}

impl Default for GenerateOptions {
    fn default() -> Self {
        demo_defaults()
    }
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateSummary {
    pub accounts: u64,
    pub posts: u64,
    pub accounts_path: PathBuf,
    pub posts_path: PathBuf,
    /// Both files together.
    pub bytes: u64,
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("invalid `{option}`: {reason}")]
    Invalid { option: &'static str, reason: String },
    #[error("cannot write `{path}`: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// How often authors set each AI preference: the share that deny and the share
/// that allow; the rest leave it unset. Restrictions on other companies'
/// training are the most common; the platform's own use draws fewer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PreferenceRate {
    pub deny: f64,
    pub allow: f64,
}

/// Indexed `[category][scope]` as in [`AiPreferences`] (`train-genai`,
/// `train-ai`, `ai-input` by `first-party`, `third-parties`).
pub const PREFERENCE_RATES: [[PreferenceRate; 2]; 3] = [
    [PreferenceRate { deny: 0.10, allow: 0.08 }, PreferenceRate { deny: 0.25, allow: 0.06 }],
    [PreferenceRate { deny: 0.07, allow: 0.08 }, PreferenceRate { deny: 0.18, allow: 0.06 }],
    [PreferenceRate { deny: 0.05, allow: 0.10 }, PreferenceRate { deny: 0.12, allow: 0.07 }],
];

/// The exponent of the Zipf law authors' activity follows.
pub const ZIPF_EXPONENT: f64 = 1.1;

/// The share of posts that reply to an earlier post.
pub const REPLY_SHARE: f64 = 0.30;
/// The share of replies an author writes to their own post (a thread).
const SELF_REPLY_SHARE: f64 = 0.15;
/// Replies answer one of this many most recent posts.
const RECENT_POSTS: usize = 1024;
pub const NO_AI_SHARE: f64 = 0.02;
pub const DELETED_SHARE: f64 = 0.005;
pub const PROTECTED_SHARE: f64 = 0.04;
/// Minors: a third flagged by the platform (`is_minor`), the rest by birth year.
pub const MINOR_SHARE: f64 = 0.03;
pub const SUSPENDED_SHARE: f64 = 0.005;
pub const DEACTIVATED_SHARE: f64 = 0.005;

/// Posting activity by hour of day (UTC), a mix of the Americas, Europe and Asia.
const HOURLY: [u32; 24] = [9, 8, 7, 6, 5, 5, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 14, 14, 13, 13, 12, 12, 11, 10];

const STREAM_LAYOUT: u64 = 1;
const STREAM_ACCOUNTS: u64 = 2;
const STREAM_POSTS: u64 = 3;

/// One of the recent posts replies may answer.
#[derive(Debug, Clone, Copy)]
struct Recent {
    id: PostId,
    author: Author,
    conversation: PostId,
}

/// What a post needs of its author, kept by activity rank: the busiest
/// authors then sit together in a few cache lines instead of being spread
/// over the whole table, which makes drawing authors several times faster.
#[derive(Debug, Clone, Copy)]
struct Author {
    id: u64,
    index: u32,
    lang: u8,
}

/// Produces the platform one record at a time, without holding it in memory:
/// accounts with [`Generator::next_account`], posts with
/// [`Generator::next_post`]. [`generate`] writes them out; a benchmark can feed
/// them to a store directly.
pub struct Generator {
    options: GenerateOptions,
    account_rng: Rng,
    post_rng: Rng,
    /// Per account, by index: id, creation time, region and language.
    ids: Vec<u64>,
    created: Vec<i64>,
    regions: Vec<u8>,
    langs: Vec<u8>,
    /// Activity ranks, Zipf-distributed, and the account holding each rank.
    zipf: Alias,
    by_rank: Vec<Author>,
    next_account: u64,
    next_post: u64,
    account: Option<Account>,
    post: Post,
    recent: Vec<Recent>,
    recent_next: usize,
    last_ms: i64,
    last_sequence: u32,
    hourly_cumulative: [u32; 25],
}

impl Generator {
    pub fn new(options: &GenerateOptions) -> Result<Generator, GenerateError> {
        validate(options)?;
        let n = options.accounts as usize;
        let mut layout = Rng::new(options.seed, STREAM_LAYOUT);

        // Account ids grow with creation time, as X's do; more accounts were
        // created in recent years (density rising linearly).
        let hi = options.start.millis() - DAY;
        let lo = ACCOUNTS_FROM.millis().min(hi - 365 * DAY);
        let (mut ids, mut created) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let (mut prev_id, mut prev_ms) = (0u64, lo);
        for i in 0..n {
            let u = (i as f64 + layout.unit()) / n as f64;
            let ms = (lo + ((hi - lo) as f64 * u.sqrt()) as i64).max(prev_ms);
            let id = PostId::mint(Timestamp::from_millis(ms), layout.below(1 << 22) as u32).0.max(prev_id + 1);
            ids.push(id);
            created.push(ms);
            (prev_id, prev_ms) = (id, ms);
        }

        let (mut regions, mut langs) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let region_table: Vec<(u8, u32)> = REGIONS.iter().enumerate().map(|(i, r)| (i as u8, r.weight)).collect();
        for _ in 0..n {
            let region = layout.weighted(&region_table);
            regions.push(region);
            langs.push(layout.weighted(REGIONS[usize::from(region)].languages));
        }

        // Zipf over activity ranks, ranks dealt to accounts at random.
        let weights: Vec<f64> = (1..=n).map(|rank| rng::powf(rank as f64, -ZIPF_EXPONENT)).collect();
        let zipf = Alias::new(&weights);
        let mut deal: Vec<u32> = (0..n as u32).collect();
        for i in (1..n).rev() {
            deal.swap(i, layout.below(i as u64 + 1) as usize);
        }
        let by_rank = deal
            .into_iter()
            .map(|index| Author { id: ids[index as usize], index, lang: langs[index as usize] })
            .collect();

        let mut hourly_cumulative = [0u32; 25];
        for h in 0..24 {
            hourly_cumulative[h + 1] = hourly_cumulative[h] + HOURLY[h];
        }

        Ok(Generator {
            options: options.clone(),
            account_rng: Rng::new(options.seed, STREAM_ACCOUNTS),
            post_rng: Rng::new(options.seed, STREAM_POSTS),
            ids,
            created,
            regions,
            langs,
            zipf,
            by_rank,
            next_account: 0,
            next_post: 0,
            account: None,
            post: Post {
                id: PostId(0),
                author_id: AccountId(0),
                created_at: Timestamp::from_millis(0),
                text: String::with_capacity(256),
                lang: String::with_capacity(8),
                in_reply_to: None,
                in_reply_to_user_id: None,
                conversation_id: None,
                no_ai: false,
                deleted_at: None,
            },
            recent: Vec::with_capacity(RECENT_POSTS),
            recent_next: 0,
            last_ms: i64::MIN,
            last_sequence: 0,
            hourly_cumulative,
        })
    }

    /// The next account, in id order; `None` after the last.
    pub fn next_account(&mut self) -> Option<&Account> {
        if self.next_account >= self.options.accounts {
            return None;
        }
        let i = self.next_account as usize;
        self.next_account += 1;
        let account = self.make_account(i);
        Some(self.account.insert(account))
    }

    fn make_account(&mut self, i: usize) -> Account {
        let seed = self.options.seed;
        let rng = &mut self.account_rng;
        let language = LANGUAGES[usize::from(self.langs[i])];
        let created_at = self.created[i];
        let start = self.options.start;

        let mut handle = String::with_capacity(15);
        write_handle(&mut handle, seed, i as u64);

        let mut display_name = String::with_capacity(32);
        let first = rng.pick(language.first_names);
        let last = rng.pick(language.last_names);
        match rng.below(10) {
            0 => display_name.push_str(first),
            _ if language.family_first => {
                display_name.push_str(last);
                display_name.push_str(first);
            }
            _ => {
                display_name.push_str(first);
                display_name.push(' ');
                display_name.push_str(last);
            }
        }
        if rng.chance(0.08) {
            display_name.push(' ');
            display_name.push_str(rng.pick(&["✨", "🌸", "⚽", "🎮", "📚", "☕", "🌍"]));
        }

        let mut description = String::new();
        if rng.chance(0.6) {
            description.push_str(rng.pick(language.topics));
            description.push_str(" · ");
            description.push_str(rng.pick(language.topics));
            description.push_str(" · ");
            description.push_str(rng.pick(language.bio_tails));
        }

        // Age: a few minors (flagged by the platform or known by birth year),
        // some adults the platform verified, and birth years for many others.
        let start_year = start.year();
        let (mut birth_year, mut is_minor) = (None, None);
        let age_roll = rng.unit();
        if age_roll < MINOR_SHARE / 3.0 {
            is_minor = Some(true);
        } else if age_roll < MINOR_SHARE {
            birth_year = Some((start_year - rng.range(13, 17) as i32) as u16);
        } else if age_roll < MINOR_SHARE + 0.05 {
            is_minor = Some(false);
        } else if rng.chance(0.4) {
            let u = rng.unit();
            birth_year = Some((start_year - 20 - (45.0 * u * u) as i32) as u16);
        }

        let protected = rng.chance(PROTECTED_SHARE);
        let status_roll = rng.unit();
        let status = if status_roll < SUSPENDED_SHARE {
            AccountStatus::Suspended
        } else if status_roll < SUSPENDED_SHARE + DEACTIVATED_SHARE {
            AccountStatus::Deactivated
        } else {
            AccountStatus::Active
        };

        // Preferences: one leaning per author, shared by most of their
        // answers, so that an author who denies one use tends to deny others.
        let mut ai_preferences = AiPreferences::default();
        let lean = rng.unit();
        let settings_lo = created_at.max(PREFERENCES_FROM.millis().min(start.millis() - DAY));
        let settings_at = Timestamp::from_millis(rng.range(settings_lo, start.millis()));
        for category in Category::ALL {
            for scope in Scope::ALL {
                let rate = PREFERENCE_RATES[category.index()][scope.index()];
                let v = if rng.chance(0.7) { lean } else { rng.unit() };
                let value = if v < rate.deny {
                    Tri::Deny
                } else if v >= 1.0 - rate.allow {
                    Tri::Allow
                } else {
                    continue;
                };
                ai_preferences.0[category.index()][scope.index()] = Preference { value, updated_at: Some(settings_at) };
            }
        }

        Account {
            id: AccountId(self.ids[i]),
            handle,
            display_name,
            description,
            created_at: Timestamp::from_millis(created_at),
            region: REGIONS[usize::from(self.regions[i])].code.to_owned(),
            birth_year,
            is_minor,
            protected,
            status,
            ai_preferences,
        }
    }

    /// The next post, in id (and time) order; `None` after the last.
    pub fn next_post(&mut self) -> Option<&Post> {
        let total = self.options.posts;
        if self.next_post >= total {
            return None;
        }
        let k = self.next_post;
        self.next_post += 1;

        let start = self.options.start.millis();
        let end = start + i64::from(self.options.days) * DAY;
        let rng = &mut self.post_rng;

        // Time: evenly through the window, shaped by the hour of day.
        let u = (k as f64 + rng.unit()) / total as f64;
        let mut ms = start + self.warp(u);
        let rng = &mut self.post_rng;
        let sequence = if ms <= self.last_ms {
            ms = self.last_ms;
            if self.last_sequence >= 0x3f_ffff {
                ms += 1;
                0
            } else {
                self.last_sequence + 1
            }
        } else {
            rng.below(1 << 21) as u32
        };
        (self.last_ms, self.last_sequence) = (ms, sequence);
        let created_at = Timestamp::from_millis(ms);
        let id = PostId::mint(created_at, sequence);

        let parent = if !self.recent.is_empty() && rng.chance(REPLY_SHARE) {
            // Mostly the very latest posts: conversations happen while they are fresh.
            let back = (self.recent.len() as f64 * rng.unit() * rng.unit()) as usize;
            let at = (self.recent_next + self.recent.len() - 1 - back) % self.recent.len();
            Some(self.recent[at])
        } else {
            None
        };
        let author = match parent {
            Some(p) if rng.chance(SELF_REPLY_SHARE) => p.author,
            _ => self.by_rank[self.zipf.sample(rng)],
        };

        let language = LANGUAGES[usize::from(author.lang)];
        let roll = rng.unit();
        let language = if roll < 0.07 {
            None
        } else if roll < 0.15 {
            Some(&lang::EN)
        } else {
            Some(language)
        };

        let post = &mut self.post;
        post.id = id;
        post.author_id = AccountId(author.id);
        post.created_at = created_at;
        post.text.clear();
        if let Some(p) = parent {
            post.text.push('@');
            write_handle(&mut post.text, self.options.seed, u64::from(p.author.index));
            post.text.push(' ');
        }
        post.lang.clear();
        post.lang.push_str(language.map_or("und", |l| l.code));
        write_text(&mut post.text, language, rng);
        post.in_reply_to = parent.map(|p| p.id);
        post.in_reply_to_user_id = parent.map(|p| AccountId(p.author.id));
        let conversation = parent.map_or(id, |p| p.conversation);
        post.conversation_id = Some(conversation);
        post.no_ai = rng.chance(NO_AI_SHARE);
        post.deleted_at = rng
            .chance(DELETED_SHARE)
            .then(|| Timestamp::from_millis((ms + rng.range(60 * SECOND, 30 * DAY)).min(end.max(ms + SECOND))));

        let entry = Recent { id, author, conversation };
        if self.recent.len() < RECENT_POSTS {
            self.recent.push(entry);
        } else {
            self.recent[self.recent_next] = entry;
        }
        self.recent_next = (self.recent_next + 1) % RECENT_POSTS;
        Some(&self.post)
    }

    /// Maps `u` in `[0, 1)` to an offset into the window, monotonically, with
    /// the day's activity following `HOURLY`.
    fn warp(&self, u: f64) -> i64 {
        let x = u * f64::from(self.options.days);
        let day = x.floor();
        let w = (x - day) * f64::from(self.hourly_cumulative[24]);
        let h = self.hourly_cumulative[1..].partition_point(|&c| f64::from(c) <= w).min(23);
        let within = (w - f64::from(self.hourly_cumulative[h])) / f64::from(HOURLY[h]);
        day as i64 * DAY + ((h as f64 + within.clamp(0.0, 1.0)) * HOUR as f64) as i64
    }
}

/// Walker's alias method (in Vose's form): draws from a discrete
/// distribution in constant time, two array reads per draw, where a binary
/// search over a million cumulative weights would miss the cache twenty times.
struct Alias {
    /// Per slot: keep the slot if a random `u32` is below the threshold,
    /// otherwise take its alias. Packed together: one cache line per draw.
    slots: Vec<(u32, u32)>,
}

impl Alias {
    fn new(weights: &[f64]) -> Alias {
        let n = weights.len();
        let total: f64 = weights.iter().sum();
        let mut keep: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<u32>, Vec<u32>) = (0..n as u32).partition(|&i| keep[i as usize] < 1.0);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            alias[s as usize] = l;
            keep[l as usize] = (keep[l as usize] + keep[s as usize]) - 1.0;
            if keep[l as usize] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // What is left is 1 up to rounding.
        for i in small.into_iter().chain(large) {
            keep[i as usize] = 1.0;
        }
        let threshold = |k: f64| (k * 4_294_967_296.0).min(f64::from(u32::MAX)) as u32;
        Alias { slots: keep.iter().zip(alias).map(|(&k, a)| (threshold(k), a)).collect() }
    }

    fn sample(&self, rng: &mut Rng) -> usize {
        let i = rng.below(self.slots.len() as u64) as usize;
        let (keep, alias) = self.slots[i];
        if ((rng.next_u64() >> 32) as u32) < keep { i } else { alias as usize }
    }
}

fn validate(options: &GenerateOptions) -> Result<(), GenerateError> {
    let invalid = |option, reason: &str| Err(GenerateError::Invalid { option, reason: reason.to_owned() });
    if options.accounts == 0 && options.posts > 0 {
        return invalid("accounts", "posts need at least one account");
    }
    if options.accounts > u64::from(u32::MAX) {
        return invalid("accounts", "must be at most 4294967295");
    }
    if options.days == 0 || options.days > 36_500 {
        return invalid("days", "must be between 1 and 36500");
    }
    if options.start < EARLIEST_START || options.start.year() > 2200 {
        return Err(GenerateError::Invalid {
            option: "start",
            reason: format!("`{}` must be between 2011 and 2200: ids are minted as X snowflakes", options.start),
        });
    }
    Ok(())
}

/// A handle unique to account `index`: a word (letters only) and `index + 1`.
/// Because the word has no digits, two handles can only be equal if their
/// numbers are, whatever the word; the word is shortened to keep 15 characters.
fn write_handle(out: &mut String, seed: u64, index: u64) {
    let h = rng::mix(seed ^ rng::mix(index.wrapping_add(0x6a09_e667_f3bc_c909)));
    let number = index + 1;
    let digits = number.checked_ilog10().unwrap_or(0) as usize + 1;
    let mut room = 15usize.saturating_sub(digits);
    let words = lang::HANDLE_WORDS;
    let mut push_word = |w: &str| {
        let take = w.len().min(room);
        out.push_str(&w[..take]);
        room -= take;
    };
    push_word(words[(h % words.len() as u64) as usize]);
    if (h >> 32).is_multiple_of(3) {
        push_word(words[((h >> 40) % words.len() as u64) as usize]);
    }
    if (h >> 48).is_multiple_of(4) && room > 0 {
        out.push('_');
    }
    let _ = write!(out, "{number}");
}

/// A short post in `language` (`None`: undetermined, i.e. emoji or a link).
fn write_text(out: &mut String, language: Option<&Language>, rng: &mut Rng) {
    let Some(l) = language else {
        if rng.chance(0.7) {
            out.push_str(rng.pick(lang::UND_TEXTS));
        } else {
            write_link(out, rng);
        }
        return;
    };
    out.push_str(rng.pick(l.openers));
    out.push_str(l.joiner);
    out.push_str(rng.pick(l.topics));
    out.push_str(l.joiner);
    out.push_str(rng.pick(l.closers));
    if rng.chance(0.25) {
        // A second sentence makes texts vary in length, as real ones do.
        out.push_str(l.full_stop);
        out.push_str(rng.pick(l.openers));
        out.push_str(l.joiner);
        out.push_str(rng.pick(l.topics));
    }
    if rng.chance(0.12) {
        out.push(' ');
        out.push_str(rng.pick(lang::HASHTAGS));
    }
    if rng.chance(0.08) {
        out.push(' ');
        write_link(out, rng);
    }
}

fn write_link(out: &mut String, rng: &mut Rng) {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    out.push_str("https://t.co/");
    for _ in 0..10 {
        out.push(char::from(rng.pick(ALPHABET)));
    }
}

/// Writes `out_dir/accounts.jsonl` and `out_dir/posts.jsonl` (creating
/// `out_dir`). Both files are written under temporary names, synced, and only
/// then renamed into place, together: a crash or a full disk never leaves a
/// truncated file, or a new accounts file beside an old posts file, under the
/// final names.
pub fn generate(options: &GenerateOptions, out_dir: &Path) -> Result<GenerateSummary, GenerateError> {
    let started = Instant::now();
    let mut generator = Generator::new(options)?;
    fs::create_dir_all(out_dir).map_err(|source| GenerateError::Io { path: out_dir.to_owned(), source })?;
    let accounts_path = out_dir.join("accounts.jsonl");
    let posts_path = out_dir.join("posts.jsonl");
    let accounts_tmp = out_dir.join(".accounts.jsonl.partial");
    let posts_tmp = out_dir.join(".posts.jsonl.partial");

    let result = (|| {
        let a = write_synced(&accounts_tmp, |w| {
            while let Some(account) = generator.next_account() {
                serde_json::to_writer(&mut *w, account)?;
                w.write_all(b"\n")?;
            }
            Ok(())
        })?;
        let p = write_synced(&posts_tmp, |w| {
            while let Some(post) = generator.next_post() {
                serde_json::to_writer(&mut *w, post)?;
                w.write_all(b"\n")?;
            }
            Ok(())
        })?;
        for (tmp, path) in [(&accounts_tmp, &accounts_path), (&posts_tmp, &posts_path)] {
            fs::rename(tmp, path).map_err(|source| GenerateError::Io { path: path.clone(), source })?;
        }
        sync_dir(out_dir);
        Ok(a + p)
    })();
    let bytes = match result {
        Ok(bytes) => bytes,
        Err(e) => {
            let _ = fs::remove_file(&accounts_tmp);
            let _ = fs::remove_file(&posts_tmp);
            return Err(e);
        }
    };
    Ok(GenerateSummary {
        accounts: options.accounts,
        posts: options.posts,
        accounts_path,
        posts_path,
        bytes,
        elapsed: started.elapsed(),
    })
}

/// The size of the chunks handed to the writing thread.
const CHUNK: usize = 1 << 20;
/// The writing thread syncs the file every this many bytes, so the disk works
/// while records are still being generated instead of all at the final sync.
const SYNC_EVERY: u64 = 256 << 20;

/// Collects output into chunks for the writing thread: formatting records and
/// writing them to the disk then take turns on two cores instead of one.
struct ChunkWriter {
    buffer: Vec<u8>,
    full: SyncSender<Vec<u8>>,
    empty: Receiver<Vec<u8>>,
    bytes: u64,
}

impl ChunkWriter {
    fn ship(&mut self) -> io::Result<()> {
        let next = self.empty.try_recv().unwrap_or_else(|_| Vec::with_capacity(CHUNK + CHUNK / 8));
        let full = std::mem::replace(&mut self.buffer, next);
        self.full.send(full).map_err(|_| io::Error::other("the writing thread stopped"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_all(data)?;
        Ok(data.len())
    }
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.buffer.extend_from_slice(data);
        self.bytes += data.len() as u64;
        if self.buffer.len() >= CHUNK {
            self.ship()?;
        }
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes what `body` produces to a new file at `path` and syncs it; returns
/// the number of bytes.
fn write_synced(path: &Path, body: impl FnOnce(&mut ChunkWriter) -> io::Result<()>) -> Result<u64, GenerateError> {
    let io_err = |source| GenerateError::Io { path: path.to_owned(), source };
    let mut file = File::create(path).map_err(io_err)?;
    let (full_tx, full_rx) = mpsc::sync_channel::<Vec<u8>>(4);
    let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        let writing = scope.spawn(move || -> io::Result<File> {
            let mut unsynced = 0u64;
            for mut chunk in full_rx {
                file.write_all(&chunk)?;
                unsynced += chunk.len() as u64;
                if unsynced >= SYNC_EVERY {
                    file.sync_data()?;
                    unsynced = 0;
                }
                chunk.clear();
                let _ = empty_tx.send(chunk);
            }
            Ok(file)
        });
        let mut w =
            ChunkWriter { buffer: Vec::with_capacity(CHUNK + CHUNK / 8), full: full_tx, empty: empty_rx, bytes: 0 };
        let produced = body(&mut w).and_then(|()| w.ship());
        let bytes = w.bytes;
        drop(w);
        let file = match writing.join() {
            Ok(written) => written.map_err(io_err)?,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        // The writing thread's error, if any, came first: it explains a failed send.
        produced.map_err(io_err)?;
        file.sync_all().map_err(io_err)?;
        Ok(bytes)
    })
}

/// Makes the renames durable where the platform allows syncing a directory.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_start_is_2026() {
        assert_eq!(DEFAULT_START, Timestamp::parse("2026-01-01T00:00:00Z").unwrap());
        assert_eq!(ACCOUNTS_FROM, Timestamp::parse("2010-12-01T00:00:00Z").unwrap());
        assert_eq!(PREFERENCES_FROM, Timestamp::parse("2024-09-01T00:00:00Z").unwrap());
        assert_eq!(EARLIEST_START, Timestamp::parse("2011-01-01T00:00:00Z").unwrap());
    }

    #[test]
    fn handles_are_valid_and_unique_even_for_long_numbers() {
        let mut seen = std::collections::HashSet::new();
        for index in (0..20_000).chain([999_999, 9_999_999, 99_999_999_999]) {
            let mut h = String::new();
            write_handle(&mut h, 42, index);
            assert!(!h.is_empty() && h.len() <= 15, "{h}");
            assert!(h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'), "{h}");
            assert!(seen.insert(h.clone()), "duplicate {h}");
        }
    }

    #[test]
    fn posts_are_time_ordered_and_replies_point_back() {
        let options = GenerateOptions { accounts: 500, posts: 5_000, ..demo_defaults() };
        let mut g = Generator::new(&options).unwrap();
        let mut ids = std::collections::HashMap::new();
        let mut last = PostId(0);
        while let Some(p) = g.next_post() {
            assert!(p.id > last, "ids increase");
            assert_eq!(p.id.timestamp(), p.created_at);
            assert!(p.validate().is_ok());
            if let Some(parent) = p.in_reply_to {
                let (root, author) = ids[&parent];
                assert_eq!(p.conversation_id, Some(root));
                assert_eq!(p.in_reply_to_user_id, Some(author));
            } else {
                assert_eq!(p.conversation_id, Some(p.id));
            }
            ids.insert(p.id, (p.conversation_id.unwrap(), p.author_id));
            last = p.id;
        }
        assert_eq!(ids.len(), 5_000);
    }

    #[test]
    fn warp_is_monotonic_and_stays_in_the_window() {
        let g = Generator::new(&GenerateOptions { accounts: 1, posts: 1, days: 3, ..demo_defaults() }).unwrap();
        let mut prev = -1;
        for i in 0..100_000 {
            let t = g.warp(f64::from(i) / 100_000.0);
            assert!(t >= prev && t < 3 * DAY, "{t}");
            prev = t;
        }
    }

    #[test]
    fn bad_options_are_refused() {
        for (options, field) in [
            (GenerateOptions { accounts: 0, ..demo_defaults() }, "accounts"),
            (GenerateOptions { days: 0, ..demo_defaults() }, "days"),
            (GenerateOptions { start: Timestamp::from_millis(0), ..demo_defaults() }, "start"),
        ] {
            match Generator::new(&options) {
                Err(GenerateError::Invalid { option, .. }) => assert_eq!(option, field),
                _ => panic!("{options:?} accepted"),
            }
        }
    }
}
