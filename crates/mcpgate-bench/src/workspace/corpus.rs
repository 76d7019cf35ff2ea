//! Realistic text for seeding at scale: a large vocabulary whose words occur with Zipf-like
//! frequencies, as words do in real writing.
//!
//! The vocabulary ranks a few English function words first (`the` at rank 1), then the
//! scenario's own words and tags (so the load's searches and tag filters find records), then
//! made-up words of four syllables. A word of rank `r` is drawn with probability proportional
//! to `1 / r^s`: a handful of words are in most records, most words in very few, the shape a
//! search index meets in practice. Every record's text starts with `the`, so one word is in
//! every record: the worst case for a search.

use super::text::{TAGS, WORDS};
use crate::scenario::Draws;

/// Ranks 1.. of the vocabulary, before the scenario's words.
const FUNCTION_WORDS: [&str; 10] = [
    "the", "of", "and", "to", "in", "for", "on", "with", "is", "at",
];

/// Syllables of the made-up words.
const SYLLABLES: [&str; 24] = [
    "ka", "lo", "mi", "ren", "tu", "sa", "vel", "dor", "ni", "pex", "qua", "zim", "bo", "ta",
    "fen", "gri", "hu", "jo", "mar", "nev", "ost", "pru", "sil", "wex",
];

/// Tags beyond the scenario's, so tag filters see a long tail too.
const MORE_TAGS: [&str; 30] = [
    "api",
    "auth",
    "ci",
    "cli",
    "compliance",
    "customer",
    "data",
    "design",
    "devex",
    "finance",
    "growth",
    "hiring",
    "incident",
    "legal",
    "mobile",
    "monitoring",
    "network",
    "oncall",
    "perf",
    "platform",
    "privacy",
    "product",
    "research",
    "sales",
    "sre",
    "support",
    "tech-debt",
    "testing",
    "ux",
    "web",
];

/// A vocabulary and its Zipf distribution.
pub struct Corpus {
    words: Vec<String>,
    /// Cumulative weights of the words, the last one 1.0.
    cumulative: Vec<f64>,
    tags: Vec<&'static str>,
    tag_cumulative: Vec<f64>,
}

impl Corpus {
    /// A vocabulary of `size` words (at least the fixed ones) with exponent `exponent`.
    pub fn new(size: usize, exponent: f64) -> Self {
        let mut words: Vec<String> = FUNCTION_WORDS
            .iter()
            .chain(WORDS.iter())
            .map(|word| (*word).to_owned())
            .collect();
        let mut made_up = 0_u64;
        while words.len() < size {
            words.push(made_up_word(made_up));
            made_up += 1;
        }
        let tags: Vec<&'static str> = TAGS.iter().chain(MORE_TAGS.iter()).copied().collect();
        Self {
            cumulative: zipf(words.len(), exponent),
            tag_cumulative: zipf(tags.len(), 1.0),
            words,
            tags,
        }
    }

    /// The word of rank `rank` (1-based), if the vocabulary has one.
    pub fn word(&self, rank: usize) -> Option<&str> {
        self.words.get(rank.checked_sub(1)?).map(String::as_str)
    }

    /// The share of drawn words that are the word of rank `rank` (1-based).
    pub fn share(&self, rank: usize) -> f64 {
        let at = |r: usize| if r == 0 { 0.0 } else { self.cumulative[r - 1] };
        at(rank) - at(rank - 1)
    }

    /// One word, drawn by its frequency.
    pub fn draw<'a>(&'a self, draws: &mut Draws) -> &'a str {
        &self.words[index_of(&self.cumulative, draws)]
    }

    /// `the` and then `min..=max` more words, the way seeded texts begin.
    pub fn text(&self, draws: &mut Draws, min: usize, max: usize) -> String {
        let count = between(draws, min, max);
        let mut text = String::from("the");
        for _ in 0..count {
            text.push(' ');
            text.push_str(self.draw(draws));
        }
        text
    }

    /// A title of `min..=max` drawn words, the first capitalized.
    pub fn title(&self, draws: &mut Draws, min: usize, max: usize) -> String {
        let count = between(draws, min, max).max(1);
        let words: Vec<&str> = (0..count).map(|_| self.draw(draws)).collect();
        let text = words.join(" ");
        let mut chars = text.chars();
        match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => text,
        }
    }

    /// Up to `max` distinct tags, drawn by their own frequencies.
    pub fn tags(&self, draws: &mut Draws, max: usize) -> Vec<&'static str> {
        let count = between(draws, 0, max);
        let mut tags = Vec::with_capacity(count);
        for _ in 0..count {
            let tag = self.tags[index_of(&self.tag_cumulative, draws)];
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        tags
    }
}

/// Cumulative Zipf weights for ranks 1..=`len`, normalized to end at 1.0.
fn zipf(len: usize, exponent: f64) -> Vec<f64> {
    let mut total = 0.0;
    let mut cumulative: Vec<f64> = (1..=len)
        .map(|rank| {
            total += 1.0 / (rank as f64).powf(exponent);
            total
        })
        .collect();
    for weight in &mut cumulative {
        *weight /= total;
    }
    cumulative
}

/// The index a uniform draw falls on in `cumulative`.
fn index_of(cumulative: &[f64], draws: &mut Draws) -> usize {
    let uniform = (draws.next_draw() >> 11) as f64 / (1_u64 << 53) as f64;
    cumulative
        .partition_point(|weight| *weight <= uniform)
        .min(cumulative.len() - 1)
}

/// A number in `min..=max`.
pub(super) fn between(draws: &mut Draws, min: usize, max: usize) -> usize {
    min + (draws.next_draw() % (max.saturating_sub(min) as u64 + 1)) as usize
}

/// The `n`th made-up word: four syllables, distinct for every `n` below 24⁴ (331,776).
fn made_up_word(n: u64) -> String {
    const SPACE: u64 = 24 * 24 * 24 * 24;
    // 7,919 is prime and so coprime to 24⁴: consecutive ranks get unrelated spellings.
    let mut code = (n.wrapping_mul(7_919) + 1_013) % SPACE;
    let mut word = String::with_capacity(12);
    for _ in 0..4 {
        word.push_str(SYLLABLES[(code % 24) as usize]);
        code /= 24;
    }
    word
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vocabulary_is_distinct_and_ranked() {
        let corpus = Corpus::new(5_000, 1.0);
        let mut seen = std::collections::HashSet::new();
        assert!(corpus.words.iter().all(|word| seen.insert(word.clone())));
        assert_eq!(corpus.word(1), Some("the"));
        assert!(corpus.share(1) > corpus.share(2) && corpus.share(100) > corpus.share(1_000));
        assert!((corpus.cumulative.last().copied().unwrap_or(0.0) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn draws_follow_the_ranks() {
        let corpus = Corpus::new(5_000, 1.0);
        let mut draws = Draws::new(3);
        let mut first = 0;
        let mut late = 0;
        for _ in 0..20_000 {
            match corpus.draw(&mut draws) {
                "the" => first += 1,
                word if corpus.words[1_000..].iter().any(|w| w == word) => late += 1,
                _ => {}
            }
        }
        // Rank 1 is about 1/H(5000) ≈ 11% of draws; ranks 1,001.. about 18% together.
        assert!((1_600..2_800).contains(&first), "{first}");
        assert!((2_800..4_400).contains(&late), "{late}");
        assert!(corpus.text(&mut draws, 3, 3).starts_with("the "));
        assert!(corpus.tags(&mut draws, 3).len() <= 3);
    }
}
