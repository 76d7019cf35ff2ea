//! Search: which records a query finds, in which order, a page at a time, at a cost that does
//! not grow with the workspace.
//!
//! Ranking every match before cutting a page (FTS5's `bm25`, PostgreSQL's `ts_rank`) costs in
//! step with the matches: a word present in most records made every page slower as the
//! workspace grew. Instead the store hands over a *window*: the newest [`WINDOW`] records (by
//! insertion order) that match every word and are older than a bound — what both backends'
//! indexes deliver newest first and stop early on (FTS5 walks a term's postings backwards by
//! rowid; PostgreSQL walks `(org, seq)` backwards, or takes the few rows of a rare word from
//! its GIN index). The window is ranked here, from the records' own text, so the order is the
//! same on both backends. Pages walk a window in rank order, then the next older window:
//! relevance within recency, with every match reachable and no page costing more than two
//! windows. The cursor is a keyset (the window's bound and the last hit's rank key), not an
//! offset.
//!
//! The ranking is BM25F over the window: each word counts every token it is a prefix of, a
//! title token four times a body token, saturated (`k1 = 1.2`) and normalised by length
//! against the window's average (`b = 0.75`). Every hit matches every word, so the words
//! weigh the same.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization as _;
use unicode_normalization::char::is_combining_mark;

use super::Kind;

/// How many matches one window holds.
pub const WINDOW: u32 = 200;

/// The longest token kept in the SQLite store's vocabulary of prefixes; a longer word is
/// still found when typed whole.
pub const MAX_TERM_CHARS: usize = 64;

/// The words of a search query: runs of letters and digits, lowercased, at most 16.
pub fn words(query: &str) -> Vec<String> {
    query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
        .take(16)
        .collect()
}

/// A word as the full-text index compares it: lowercased, diacritics removed (`Café` →
/// `cafe`), as SQLite's `unicode61 remove_diacritics 2` tokenizer folds.
pub fn fold(word: &str) -> String {
    if word.is_ascii() {
        return word.to_ascii_lowercase();
    }
    word.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The tokens of a text: runs of letters and digits.
fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// The distinct folded terms of `texts`, each at most [`MAX_TERM_CHARS`] long: what the SQLite
/// store adds to its vocabulary when a record is written.
pub fn terms<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut terms: Vec<String> = texts
        .into_iter()
        .flat_map(tokens)
        .filter(|t| t.chars().count() <= MAX_TERM_CHARS)
        .map(fold)
        .collect();
    terms.sort_unstable();
    terms.dedup();
    terms
}

/// Whether `token` begins with `word` (folded already).
fn begins_with(token: &str, word: &str) -> bool {
    if token.is_ascii() {
        token.len() >= word.len()
            && token.as_bytes()[..word.len()].eq_ignore_ascii_case(word.as_bytes())
    } else {
        fold(token).starts_with(word)
    }
}

/// What a store is asked for: the newest matches older than a bound.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchWindow {
    /// The words searched for; every word must match (prefixes match too).
    pub words: Vec<String>,
    /// Only records inserted before this one (by `seq`); `None` for the newest.
    pub before: Option<i64>,
    /// At most this many matches.
    pub size: u32,
}

/// One match of a window: what ranking and a search result need.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The record's insertion order in its store.
    pub seq: i64,
    pub id: String,
    pub kind: Kind,
    pub title: Option<String>,
    pub text: String,
}

/// Where a hit stands in its window's ranking: higher scores first, then newer records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RankKey {
    /// The score in millionths (an integer, so a cursor compares exactly).
    pub score: i64,
    pub seq: i64,
}

impl Ord for RankKey {
    /// Best first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.score, other.seq).cmp(&(self.score, self.seq))
    }
}

impl PartialOrd for RankKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A window's matches, best first, each with its rank key.
pub fn rank(words: &[String], window: Vec<Candidate>) -> Vec<(RankKey, Candidate)> {
    const K1: f64 = 1.2;
    const B: f64 = 0.75;
    const TITLE_WEIGHT: usize = 4;
    let words: Vec<String> = words.iter().map(|w| fold(w)).collect();
    // Per candidate: each word's weighted count, and the weighted length.
    let counted: Vec<(Vec<usize>, usize)> = window
        .iter()
        .map(|c| {
            let mut counts = vec![0; words.len()];
            let mut length = 0;
            let title = c.title.as_deref().unwrap_or("");
            for (text, weight) in [(title, TITLE_WEIGHT), (c.text.as_str(), 1)] {
                for token in tokens(text) {
                    length += weight;
                    for (count, word) in counts.iter_mut().zip(&words) {
                        if begins_with(token, word) {
                            *count += weight;
                        }
                    }
                }
            }
            (counts, length)
        })
        .collect();
    let total: usize = counted.iter().map(|(_, length)| length).sum();
    let average = (total as f64 / counted.len().max(1) as f64).max(1.0);
    let mut ranked: Vec<(RankKey, Candidate)> = window
        .into_iter()
        .zip(counted)
        .map(|(candidate, (counts, length))| {
            let norm = K1 * (1.0 - B + B * length as f64 / average);
            let score: f64 = counts
                .iter()
                .map(|&tf| {
                    let tf = tf as f64;
                    tf * (K1 + 1.0) / (tf + norm)
                })
                .sum();
            let key = RankKey {
                score: (score * 1e6).round() as i64,
                seq: candidate.seq,
            };
            (key, candidate)
        })
        .collect();
    ranked.sort_by_key(|(key, _)| *key);
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(seq: i64, title: &str, text: &str) -> Candidate {
        Candidate {
            seq,
            id: format!("note_{seq}"),
            kind: Kind::Note,
            title: Some(title.to_owned()),
            text: text.to_owned(),
        }
    }

    fn order(words: &[&str], window: Vec<Candidate>) -> Vec<i64> {
        let words: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
        rank(&words, window)
            .into_iter()
            .map(|(k, _)| k.seq)
            .collect()
    }

    #[test]
    fn query_words_are_letter_and_digit_runs_lowercased_at_most_sixteen() {
        assert_eq!(words("Release-Q3, café!"), ["release", "q3", "café"]);
        assert_eq!(words("  --  "), Vec::<String>::new());
        assert_eq!(words(&"w ".repeat(40)).len(), 16);
    }

    #[test]
    fn folding_lowercases_and_drops_diacritics_as_the_index_does() {
        assert_eq!(fold("Café"), "cafe");
        assert_eq!(fold("RÉSUMÉ"), "resume");
        assert_eq!(fold("Straße"), "straße");
        assert_eq!(
            terms(["Café au lait", "cafe, LAIT 42"]),
            ["42", "au", "cafe", "lait"]
        );
        let long = "x".repeat(MAX_TERM_CHARS + 1);
        assert_eq!(terms([long.as_str(), "short"]), ["short"]);
    }

    #[test]
    fn a_title_match_outranks_a_body_match_and_more_matches_outrank_fewer() {
        let window = vec![
            candidate(3, "Lunch", "the launch of the rocket"),
            candidate(2, "Launch plan", "what we do"),
            candidate(1, "Notes", "launch and launches, then more words here"),
        ];
        assert_eq!(order(&["launch"], window), [2, 1, 3]);
    }

    #[test]
    fn words_match_as_prefixes_and_ties_go_to_the_newer_record() {
        let window = vec![
            candidate(1, "A", "incidents happen"),
            candidate(2, "B", "incident report"),
            candidate(5, "C", "Incidental findings"),
        ];
        assert_eq!(order(&["incid"], window), [5, 2, 1]);
        let window = vec![candidate(1, "Café", "x"), candidate(2, "Other", "x")];
        assert_eq!(order(&["cafe"], window)[0], 1, "diacritics fold");
    }

    #[test]
    fn rank_keys_order_best_first_and_survive_a_cursor_round_trip() {
        let a = RankKey { score: 5, seq: 1 };
        let b = RankKey { score: 5, seq: 2 };
        let c = RankKey { score: 9, seq: 0 };
        let mut keys = vec![a, b, c];
        keys.sort();
        assert_eq!(keys, [c, b, a]);
        let text = serde_json::to_string(&a).expect("serialise");
        assert_eq!(serde_json::from_str::<RankKey>(&text).expect("parse"), a);
    }
}
