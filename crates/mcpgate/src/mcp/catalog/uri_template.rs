//! Matching a URI against a resource template (RFC 6570, the forms resource templates use): a
//! `{var}` stands for one segment (no `/`, `?` or `#`), a `{+var}` or `{#var}` for any text,
//! and a `{?a,b}` or `{&a}` query expansion for an optional query.

/// Whether `uri` is an expansion of `template`.
pub fn matches(template: &str, uri: &str) -> bool {
    match template.find('{') {
        None => template == uri,
        Some(start) => {
            let Some(uri) = uri.strip_prefix(&template[..start]) else {
                return false;
            };
            let Some(len) = template[start..].find('}') else {
                return false;
            };
            let expression = &template[start + 1..start + len];
            let rest = &template[start + len + 1..];
            let operator = expression.chars().next();
            match operator {
                // A query expansion: what follows is optional and runs to the end.
                Some('?' | '&') => {
                    rest.is_empty() && (uri.is_empty() || uri.starts_with(['?', '&']))
                }
                Some('+' | '#') => (0..=uri.len())
                    .filter(|&i| uri.is_char_boundary(i))
                    .any(|i| matches(rest, &uri[i..])),
                _ => {
                    let segment = uri.find(['/', '?', '#']).unwrap_or(uri.len());
                    (1..=segment)
                        .filter(|&i| uri.is_char_boundary(i))
                        .any(|i| matches(rest, &uri[i..]))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn simple_variables_take_one_segment() {
        assert!(matches("workspace://notes/{id}", "workspace://notes/abc"));
        assert!(!matches("workspace://notes/{id}", "workspace://notes/"));
        assert!(!matches("workspace://notes/{id}", "workspace://notes/a/b"));
        assert!(!matches("workspace://notes/{id}", "workspace://tasks/a"));
        assert!(matches("test://{a}/x/{b}", "test://1/x/2"));
        assert!(matches("plain://uri", "plain://uri"));
        assert!(!matches("plain://uri", "plain://uri2"));
    }

    #[test]
    fn reserved_and_query_expansions() {
        assert!(matches("file:///{+path}", "file:///a/b/c.txt"));
        assert!(matches("search://q{?term,limit}", "search://q?term=x"));
        assert!(matches("search://q{?term,limit}", "search://q"));
        assert!(!matches("search://q{?term}", "search://qx"));
        assert!(!matches("broken://{id", "broken://x"));
    }
}
