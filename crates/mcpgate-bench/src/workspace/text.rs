//! The small vocabulary the workspace scenario writes and searches with.
//!
//! Titles, descriptions, note bodies, tags and search queries are all drawn from the same few
//! words, so that tag filters and searches during the load find what seeding created.

use crate::scenario::Draws;

/// Words of titles, descriptions, note bodies and search queries.
pub(super) const WORDS: [&str; 24] = [
    "deploy",
    "billing",
    "cache",
    "invoice",
    "migration",
    "latency",
    "signing",
    "rotation",
    "dashboard",
    "export",
    "onboarding",
    "backup",
    "audit",
    "webhook",
    "quota",
    "retry",
    "schema",
    "rollout",
    "incident",
    "alerting",
    "storage",
    "gateway",
    "token",
    "report",
];

/// Tags of tasks and notes, and of `list_tasks` tag filters.
pub(super) const TAGS: [&str; 10] = [
    "ops", "billing", "security", "frontend", "backend", "infra", "docs", "release", "q4", "bug",
];

/// Task statuses; seeded tasks are spread over all of them so every status filter finds some.
pub(super) const STATUSES: [&str; 4] = ["todo", "in_progress", "done", "cancelled"];

/// Task priorities.
pub(super) const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];

/// An element of `items` (not empty), drawn uniformly.
pub(super) fn pick<'a, T>(draws: &mut Draws, items: &'a [T]) -> &'a T {
    &items[index_below(draws, items.len())]
}

/// A number in `0..len` (`len` > 0), drawn uniformly.
pub(super) fn index_below(draws: &mut Draws, len: usize) -> usize {
    (draws.next_draw() % len as u64) as usize
}

/// `words` vocabulary words, the first capitalized.
pub(super) fn title(draws: &mut Draws, words: usize) -> String {
    let text = sentence(draws, words, words);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => text,
    }
}

/// Between `min` and `max` vocabulary words, separated by spaces.
pub(super) fn sentence(draws: &mut Draws, min: usize, max: usize) -> String {
    let count = min + (draws.next_draw() % (max - min + 1) as u64) as usize;
    (0..count)
        .map(|_| *pick(draws, &WORDS))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Between `min` and `max` distinct tags.
pub(super) fn tags(draws: &mut Draws, min: usize, max: usize) -> Vec<&'static str> {
    let count = min + (draws.next_draw() % (max - min + 1) as u64) as usize;
    let mut chosen = Vec::with_capacity(count);
    while chosen.len() < count {
        let tag = *pick(draws, &TAGS);
        if !chosen.contains(&tag) {
            chosen.push(tag);
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_text_stays_in_the_vocabulary() {
        let mut draws = Draws::new(9);
        for _ in 0..100 {
            let chosen = tags(&mut draws, 1, 3);
            assert!((1..=3).contains(&chosen.len()));
            let mut unique = chosen.clone();
            unique.dedup();
            assert_eq!(unique.len(), chosen.len(), "tags are distinct: {chosen:?}");
            let text = sentence(&mut draws, 1, 2);
            assert!(text.split(' ').all(|word| WORDS.contains(&word)), "{text}");
        }
    }
}
