//! Search snippets: a short excerpt of a record around the first word that matched, with the
//! matching words in `**bold**`. Made here rather than by the database (FTS5 `snippet()`,
//! PostgreSQL `ts_headline`) so both backends give the same excerpt, and only for the page of
//! hits returned.

use super::slug::fold;

/// Words of context in a snippet.
const WINDOW: usize = 16;
/// Words shown before the first match.
const LEAD: usize = 3;

/// The `(start, end)` byte ranges of the words (runs of letters and digits) in `text`.
fn words(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, text.len()));
    }
    out
}

/// Lowercase with common accents folded, as the search indexes compare.
fn normalize(word: &str) -> String {
    word.chars()
        .flat_map(char::to_lowercase)
        .map(fold)
        .collect()
}

/// Whether `word` matches one of the (normalized) query words as a prefix.
fn matches(word: &str, query: &[String]) -> bool {
    let word = normalize(word);
    query.iter().any(|q| word.starts_with(q.as_str()))
}

/// The excerpt of `text` around its first match, or `None` when nothing in it matches.
fn excerpt(text: &str, query: &[String]) -> Option<String> {
    let spans = words(text);
    let first = spans
        .iter()
        .position(|&(s, e)| matches(&text[s..e], query))?;
    let start = first.saturating_sub(LEAD);
    let end = (start + WINDOW).min(spans.len());
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    let mut cursor = spans[start].0;
    for &(s, e) in &spans[start..end] {
        out.push_str(&text[cursor..s]);
        let word = &text[s..e];
        if matches(word, query) {
            out.push_str("**");
            out.push_str(word);
            out.push_str("**");
        } else {
            out.push_str(word);
        }
        cursor = e;
    }
    if end < spans.len() {
        out.push('…');
    }
    Some(out.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The snippet of a hit: from its text where a query word matches there, else from its title,
/// else the start of its text.
pub fn snippet(title: Option<&str>, text: &str, query: &[String]) -> String {
    let query: Vec<String> = query.iter().map(|q| normalize(q)).collect();
    if let Some(s) = excerpt(text, &query) {
        return s;
    }
    if let Some(s) = title.and_then(|t| excerpt(t, &query)) {
        return s;
    }
    let spans = words(text);
    match spans.get(WINDOW.min(spans.len()).saturating_sub(1)) {
        Some(&(_, end)) => {
            let mut s = text[..end].split_whitespace().collect::<Vec<_>>().join(" ");
            if spans.len() > WINDOW {
                s.push('…');
            }
            s
        }
        None => title.unwrap_or_default().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn matches_are_bold_and_cut_ends_marked() {
        let text = "one two three four five six the deployment failed at seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen";
        let s = snippet(None, text, &q(&["deploy"]));
        assert!(s.starts_with("…five six the **deployment** failed"), "{s}");
        assert!(s.ends_with('…'), "{s}");
        assert_eq!(s.matches("**").count(), 2);
    }

    #[test]
    fn title_is_used_when_the_text_does_not_match() {
        let s = snippet(
            Some("Rotate the signing key"),
            "Before Friday.",
            &q(&["signing"]),
        );
        assert_eq!(s, "Rotate the **signing** key");
    }

    #[test]
    fn case_and_accents_fold_and_short_texts_stay_whole() {
        let s = snippet(None, "Café\nmenu  review", &q(&["cafe", "MENU"]));
        assert_eq!(s, "**Café** **menu** review");
        assert_eq!(snippet(Some("T"), "", &q(&["x"])), "T");
        assert_eq!(
            snippet(None, "no match here", &q(&["zzz"])),
            "no match here"
        );
    }
}
