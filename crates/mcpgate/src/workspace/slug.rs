//! Slugs: short, readable names made from titles (`Release checklist` → `release-checklist`),
//! unique per org and kind, accepted wherever an ID is.

/// Longest slug base; a numeric suffix may follow.
const MAX_LEN: usize = 60;

/// The slug base for `title`: lowercase ASCII letters and digits joined by single hyphens.
/// Titles with no such characters get `untitled`.
pub fn slugify(title: &str) -> String {
    let mut slug = String::with_capacity(title.len().min(MAX_LEN));
    let mut pending_hyphen = false;
    for c in title.chars() {
        let c = fold(c);
        if c.is_ascii_alphanumeric() {
            if pending_hyphen && !slug.is_empty() {
                slug.push('-');
            }
            pending_hyphen = false;
            slug.push(c.to_ascii_lowercase());
            if slug.len() >= MAX_LEN {
                break;
            }
        } else {
            pending_hyphen = true;
        }
    }
    let slug = slug.trim_end_matches('-').to_owned();
    if slug.is_empty() {
        "untitled".to_owned()
    } else {
        slug
    }
}

/// Common accented Latin letters folded to ASCII so `Café` becomes `cafe`, not `caf`.
pub(crate) fn fold(c: char) -> char {
    match c {
        'à'..='å' | 'À'..='Å' => 'a',
        'ç' | 'Ç' => 'c',
        'è'..='ë' | 'È'..='Ë' => 'e',
        'ì'..='ï' | 'Ì'..='Ï' => 'i',
        'ñ' | 'Ñ' => 'n',
        'ò'..='ö' | 'Ò'..='Ö' | 'ø' | 'Ø' => 'o',
        'ù'..='ü' | 'Ù'..='Ü' => 'u',
        'ý' | 'ÿ' | 'Ý' => 'y',
        other => other,
    }
}

/// The `n`th candidate for `base`: `base`, then `base-2`, `base-3`, …
pub fn candidate(base: &str, n: u32) -> String {
    if n <= 1 {
        base.to_owned()
    } else {
        format!("{base}-{n}")
    }
}

/// Whether `key` could be a slug (rather than an ID): IDs contain `_`, slugs never do.
pub fn looks_like_slug(key: &str) -> bool {
    !key.contains('_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_become_readable_slugs() {
        assert_eq!(slugify("Release checklist"), "release-checklist");
        assert_eq!(slugify("  Q3: plan / review!! "), "q3-plan-review");
        assert_eq!(slugify("Café crème"), "cafe-creme");
        assert_eq!(slugify("日本語"), "untitled");
        assert_eq!(slugify(&"x".repeat(500)).len(), MAX_LEN);
        assert_eq!(candidate("a", 1), "a");
        assert_eq!(candidate("a", 3), "a-3");
    }

    #[test]
    fn slugs_never_look_like_ids() {
        assert!(looks_like_slug(&slugify("task_1 under_score")));
        assert!(!looks_like_slug("task_0190abc"));
    }
}
