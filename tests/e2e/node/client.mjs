// The developer API driven through the Node.js client library twitter-api-v2,
// as an X developer would use it. Run by tests/e2e/test_node_client.py, which
// chooses the ids from the demo platform's generated data and checks what this
// script prints against them.
//
// Input (stdin, JSON): { base_url, token, timeline: {author_id, page_size, max_pages},
//   tweet_id, tweet_ids, search: {query, page_size, max_pages}, user_ids, usernames }.
// Output (stdout, JSON): what the library returned, reduced to plain data, with the
// joins the library made itself (its includes helper, its paginators).
//
// The only change made to the library's behaviour is where it sends requests:
// the v2 client's URL prefix (https://api.x.com/2/) is set to the local
// server's /2/, and an http.Agent is given because the server is plain HTTP
// on loopback (the library sends with https.request, which accepts an http:
// URL only with an http agent). The prefix is set by a subclass: the
// library's own `cloneWithPrefix` throws in 1.29 ("Class constructor
// TwitterApiv2 cannot be invoked without 'new'").
import http from 'node:http';
import { TwitterApi, TwitterApiv2, TwitterV2IncludesHelper } from 'twitter-api-v2';

class LocalTwitterApiv2 extends TwitterApiv2 {
  constructor(client, prefix) {
    super(client);
    this.setPrefix(prefix);
  }
}

const input = JSON.parse(await readStdin());

const agent = new http.Agent({ keepAlive: true });
const root = new TwitterApi(input.token, { httpAgent: agent });
const v2 = new LocalTwitterApiv2(root, input.base_url.replace(/\/$/, '') + '/2/');

const TWEET_FIELDS = ['created_at', 'author_id', 'conversation_id', 'referenced_tweets'];
const USER_FIELDS = ['created_at', 'username', 'name'];

const out = {};

// -- user timeline, page by page and through the paginator's async iterator -------
{
  const { author_id, page_size, max_pages } = input.timeline;
  const params = { max_results: page_size, 'tweet.fields': TWEET_FIELDS, expansions: ['author_id'] };
  let page = await v2.userTimeline(author_id, params);
  const pages = [];
  for (;;) {
    // `next()` gives a paginator holding only the following page.
    pages.push({
      ids: page.tweets.map(t => t.id),
      authors: page.tweets.map(t => page.includes.author(t)?.username ?? null),
      result_count: page.meta.result_count,
      next_token: page.meta.next_token ?? null,
      done: page.done,
    });
    if (page.done || pages.length >= max_pages) break;
    page = await page.next();
  }
  out.timeline_pages = pages;

  // The same timeline through `for await`, which fetches pages as it goes.
  const all = await v2.userTimeline(author_id, params);
  const iterated = [];
  for await (const tweet of all) iterated.push(tweet.id);
  out.timeline_iterated = iterated;
  out.timeline_iterated_done = all.done;
}

// -- one post, with its author and the posts it references joined by the library ---
{
  const res = await v2.singleTweet(input.tweet_id, {
    'tweet.fields': TWEET_FIELDS,
    'user.fields': USER_FIELDS,
    expansions: ['author_id', 'referenced_tweets.id'],
  });
  const inc = new TwitterV2IncludesHelper(res);
  out.single = {
    data: res.data,
    errors: res.errors ?? [],
    author: inc.author(res.data) ?? null,
    replied_to: inc.repliedTo(res.data) ?? null,
    quoted: inc.quote(res.data) ?? null,
    retweeted: inc.retweet(res.data) ?? null,
    includes_users: inc.users.map(u => u.id),
    includes_tweets: inc.tweets.map(t => t.id),
  };
}

// -- several posts by id -------------------------------------------------------------
{
  const res = await v2.tweets(input.tweet_ids, {
    'tweet.fields': TWEET_FIELDS,
    expansions: ['author_id', 'referenced_tweets.id'],
  });
  const inc = new TwitterV2IncludesHelper(res);
  out.lookup = {
    ids: (res.data ?? []).map(t => t.id),
    authors: (res.data ?? []).map(t => [t.author_id, inc.author(t)?.id ?? null, inc.author(t)?.username ?? null]),
    referenced: (res.data ?? []).map(t => (t.referenced_tweets ?? []).map(r => [r.type, r.id])),
    // For each post, what the library found in includes.tweets for its references.
    joined: (res.data ?? []).map(t => [inc.repliedTo(t)?.id ?? null, inc.quote(t)?.id ?? null, inc.retweet(t)?.id ?? null]),
    errors: (res.errors ?? []).map(e => e.resource_id ?? e.value ?? null),
  };
}

// -- recent search, a few pages ------------------------------------------------------
{
  const { query, page_size, max_pages } = input.search;
  const paginator = await v2.search(query, {
    max_results: page_size,
    'tweet.fields': TWEET_FIELDS,
    expansions: ['author_id'],
  });
  const pages = [];
  let page = paginator;
  for (;;) {
    pages.push({
      ids: page.tweets.map(t => t.id),
      texts: page.tweets.map(t => t.text),
      authors: page.tweets.map(t => [t.author_id, page.includes.author(t)?.id ?? null]),
      next_token: page.meta.next_token ?? null,
    });
    if (page.done || pages.length >= max_pages) break;
    page = await page.next();
  }
  out.search_pages = pages;
}

// -- users ---------------------------------------------------------------------------
{
  const one = await v2.user(input.user_ids[0], { 'user.fields': USER_FIELDS });
  const many = await v2.users(input.user_ids, { 'user.fields': USER_FIELDS });
  const byName = await v2.userByUsername(input.usernames[0], { 'user.fields': USER_FIELDS });
  const byNames = await v2.usersByUsernames(input.usernames, { 'user.fields': USER_FIELDS });
  out.users = {
    one: one.data,
    many: many.data ?? [],
    many_errors: many.errors ?? [],
    by_username: byName.data,
    by_usernames: byNames.data ?? [],
  };
}

// -- a refused request comes back as the library's ApiResponseError ------------------
try {
  await v2.singleTweet('1', { 'tweet.fields': ['no_such_field'] });
  out.refused = null;
} catch (e) {
  out.refused = { type: e.constructor.name, code: e.code ?? null, data: e.data ?? null };
}

agent.destroy();
process.stdout.write(JSON.stringify(out));

function readStdin() {
  return new Promise((resolve, reject) => {
    let text = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', chunk => (text += chunk));
    process.stdin.on('end', () => resolve(text));
    process.stdin.on('error', reject);
  });
}
