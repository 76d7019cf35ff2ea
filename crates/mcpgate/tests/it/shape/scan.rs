//! Reading Rust source just well enough to see which modules it names: comments and literals are
//! blanked, inline `mod name { .. }` blocks are followed by their braces, `use` trees are expanded,
//! and every `crate::`, `super::` and `self::` path is collected with its line.
//!
//! A text scan, not a parser: it needs no dependency and is fast, and the source it reads is ours
//! and `rustfmt`-clean. What it cannot see (names brought in by a glob `use`, paths built by a
//! macro) is listed in the doc comment of [`super`].

/// A path written in a source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRef {
    /// The module the path was written in: the file's module, plus any inline modules around it.
    pub module: Vec<String>,
    /// The segments as written, `crate`, `super` and `self` included.
    pub segments: Vec<String>,
    /// The name a `use` binds to the path (`use a::B as C` binds `C`); `None` outside a `use`
    /// and for globs.
    pub binds: Option<String>,
    /// 1-based line of the path's first segment.
    pub line: usize,
    /// Whether the path sits in an item under `#[cfg(test)]`.
    pub test: bool,
}

/// What one file says about module paths.
#[derive(Debug, Default)]
pub struct Scanned {
    /// Inline modules (`mod tests { .. }`), as full module paths.
    pub inline_modules: Vec<Vec<String>>,
    /// Modules declared under `#[cfg(test)]`, inline or in their own file (`mod props;`).
    pub test_modules: Vec<Vec<String>>,
    /// Every path the file names, in `use` declarations and in code.
    pub refs: Vec<PathRef>,
}

/// The module path of a file under `src/`: `config/resolve.rs` is `config::resolve`, `config.rs`
/// (or `config/mod.rs`) is `config`, `lib.rs` is the crate root.
pub fn module_path(rel: &str) -> Vec<String> {
    if rel == "lib.rs" {
        return Vec::new();
    }
    let stem = rel.strip_suffix(".rs").unwrap_or(rel);
    let mut parts: Vec<String> = stem.split('/').map(str::to_owned).collect();
    if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    parts
}

/// Scan one file whose module path is `module`.
pub fn scan(module: &[String], source: &str) -> Scanned {
    let tokens = tokens(&blank(source));
    let mut scanned = Scanned::default();
    // Inline modules open around the cursor: name and the brace depth inside their body.
    let mut open: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    // The last token of the `#[cfg(test)]` item the cursor is in, if any.
    let mut test_until: Option<usize> = None;
    let mut i = 0;
    let current = |open: &[(String, usize)]| -> Vec<String> {
        let mut path = module.to_vec();
        path.extend(open.iter().map(|(name, _)| name.clone()));
        path
    };
    while i < tokens.len() {
        let (token, line) = &tokens[i];
        if test_until.is_some_and(|end| i > end) {
            test_until = None;
        }
        if test_until.is_none() && is_cfg_test(&tokens, i) {
            test_until = Some(item_end(&tokens, i + CFG_TEST.len()));
        }
        let test = test_until.is_some();
        match token {
            Token::Punct('{') => depth += 1,
            Token::Punct('}') => {
                if open.last().is_some_and(|(_, d)| *d == depth) {
                    open.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Token::Ident(word) if word == "mod" => match (tokens.get(i + 1), tokens.get(i + 2)) {
                (Some((Token::Ident(name), _)), Some((Token::Punct('{'), _))) => {
                    depth += 1;
                    open.push((name.clone(), depth));
                    scanned.inline_modules.push(current(&open));
                    if test {
                        scanned.test_modules.push(current(&open));
                    }
                    i += 3;
                    continue;
                }
                (Some((Token::Ident(name), _)), Some((Token::Punct(';'), _))) if test => {
                    let mut declared = current(&open);
                    declared.push(name.clone());
                    scanned.test_modules.push(declared);
                }
                _ => {}
            },
            Token::Ident(word) if word == "use" => {
                let here = current(&open);
                let mut trees = Vec::new();
                i = use_tree(&tokens, i + 1, &[], &mut trees);
                for (segments, binds, line) in trees {
                    scanned.refs.push(PathRef {
                        module: here.clone(),
                        segments,
                        binds,
                        line,
                        test,
                    });
                }
                continue;
            }
            Token::Ident(word)
                if matches!(word.as_str(), "crate" | "super" | "self")
                    && tokens.get(i + 1).is_some_and(|(t, _)| *t == Token::PathSep)
                    && !(i > 0 && tokens[i - 1].0 == Token::PathSep) =>
            {
                let (segments, next) = path(&tokens, i);
                scanned.refs.push(PathRef {
                    module: current(&open),
                    segments,
                    binds: None,
                    line: *line,
                    test,
                });
                i = next;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    scanned
}

const CFG_TEST: [&str; 7] = ["#", "[", "cfg", "(", "test", ")", "]"];

/// Whether `#[cfg(test)]` starts at `i`.
fn is_cfg_test(tokens: &[(Token, usize)], i: usize) -> bool {
    CFG_TEST.iter().enumerate().all(|(k, want)| {
        tokens.get(i + k).is_some_and(|(token, _)| match token {
            Token::Ident(word) => word == want,
            Token::Punct(c) => want.len() == 1 && want.starts_with(*c),
            Token::PathSep => false,
        })
    })
}

/// The index of the last token of the item starting at `start` (after its attributes): its
/// `;`, or the `}` that closes its body.
fn item_end(tokens: &[(Token, usize)], start: usize) -> usize {
    let mut depth = 0usize;
    for (i, (token, _)) in tokens.iter().enumerate().skip(start) {
        match token {
            Token::Punct('(' | '[' | '{') => depth += 1,
            Token::Punct(')' | ']') => depth = depth.saturating_sub(1),
            Token::Punct('}') => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i;
                }
            }
            Token::Punct(';') if depth == 0 => return i,
            _ => {}
        }
    }
    tokens.len()
}

/// `a::b::c` from `start`: the segments and the index after them.
fn path(tokens: &[(Token, usize)], start: usize) -> (Vec<String>, usize) {
    let mut segments = Vec::new();
    let mut i = start;
    while let Some((Token::Ident(word), _)) = tokens.get(i) {
        segments.push(word.clone());
        match (tokens.get(i + 1), tokens.get(i + 2)) {
            (Some((Token::PathSep, _)), Some((Token::Ident(_), _))) => i += 2,
            _ => return (segments, i + 1),
        }
    }
    (segments, i)
}

/// One `use` tree from `start`, below `prefix`; pushes each leaf as (segments, bound name, line)
/// and returns the index after the tree (after the `;` at the top level).
fn use_tree(
    tokens: &[(Token, usize)],
    start: usize,
    prefix: &[String],
    out: &mut Vec<(Vec<String>, Option<String>, usize)>,
) -> usize {
    let mut i = start;
    let mut segments = prefix.to_vec();
    let line = tokens.get(i).map_or(0, |(_, line)| *line);
    loop {
        match tokens.get(i) {
            Some((Token::Ident(word), _))
                if word == "self"
                    && !prefix.is_empty()
                    && segments.len() == prefix.len()
                    && tokens.get(i + 1).is_none_or(|(t, _)| *t != Token::PathSep) =>
            {
                // `use a::{self, ..}` names `a` itself.
                let binds = segments.last().cloned();
                let (binds, next) = alias(tokens, i + 1, binds);
                out.push((segments.clone(), binds, line));
                return close(tokens, next);
            }
            Some((Token::Ident(word), _)) => {
                segments.push(word.clone());
                i += 1;
                if tokens.get(i).is_some_and(|(t, _)| *t == Token::PathSep) {
                    i += 1;
                    continue;
                }
                let (binds, next) = alias(tokens, i, segments.last().cloned());
                out.push((segments, binds, line));
                return close(tokens, next);
            }
            Some((Token::Punct('*'), _)) => {
                out.push((segments, None, line));
                return close(tokens, i + 1);
            }
            Some((Token::Punct('{'), _)) => {
                i += 1;
                while let Some((token, _)) = tokens.get(i) {
                    match token {
                        Token::Punct('}') => break,
                        Token::Punct(',') => i += 1,
                        _ => i = use_tree(tokens, i, &segments, out),
                    }
                }
                return close(tokens, i + 1);
            }
            Some((Token::PathSep, _)) => i += 1,
            _ => return close(tokens, i),
        }
    }
}

/// `as name` after a use leaf, if any: the bound name and the index after it.
fn alias(tokens: &[(Token, usize)], i: usize, binds: Option<String>) -> (Option<String>, usize) {
    match (tokens.get(i), tokens.get(i + 1)) {
        (Some((Token::Ident(word), _)), Some((Token::Ident(name), _))) if word == "as" => {
            let binds = (name != "_").then(|| name.clone());
            (binds, i + 2)
        }
        _ => (binds, i),
    }
}

/// Step over the `;` that ends a top-level use tree; inside braces, stop before `,` or `}`.
fn close(tokens: &[(Token, usize)], i: usize) -> usize {
    match tokens.get(i) {
        Some((Token::Punct(';'), _)) => i + 1,
        _ => i,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    PathSep,
    Punct(char),
}

/// Identifiers, `::` and single punctuation, each with its 1-based line.
fn tokens(code: &str) -> Vec<(Token, usize)> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((Token::Ident(chars[start..i].iter().collect()), line));
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push((Token::PathSep, line));
            i += 2;
        } else {
            out.push((Token::Punct(c), line));
            i += 1;
        }
    }
    out
}

/// The source with comments, string literals and char literals replaced by spaces (newlines kept,
/// so lines still count), so that a path in a doc comment or a string is not taken for code.
pub fn blank(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let keep_lines = |out: &mut String, from: &[char]| {
        out.extend(from.iter().map(|c| if *c == '\n' { '\n' } else { ' ' }));
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let after_ident = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        let end = if c == '/' && next == Some('/') {
            chars[i..]
                .iter()
                .position(|c| *c == '\n')
                .map_or(chars.len(), |n| i + n)
        } else if c == '/' && next == Some('*') {
            block_comment_end(&chars, i)
        } else if c == '"' {
            string_end(&chars, i + 1)
        } else if c == 'r' && !after_ident && matches!(next, Some('"' | '#')) {
            raw_string_end(&chars, i + 1).unwrap_or(i + 1)
        } else if c == 'b' && !after_ident && next == Some('r') {
            raw_string_end(&chars, i + 2).unwrap_or(i + 1)
        } else if c == '\'' {
            char_literal_end(&chars, i).unwrap_or(i + 1)
        } else {
            i + 1
        };
        if end == i + 1 {
            out.push(c);
        } else {
            keep_lines(&mut out, &chars[i..end]);
        }
        i = end;
    }
    out
}

fn block_comment_end(chars: &[char], start: usize) -> usize {
    let mut depth = 0;
    let mut i = start;
    while i < chars.len() {
        if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
            depth += 1;
            i += 2;
        } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    chars.len()
}

/// The index after the closing quote of a string whose body starts at `i`.
fn string_end(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    chars.len()
}

/// A raw string starting at `i` (just after `r`): `#`s, a quote, the body, a quote, as many `#`s.
fn raw_string_end(chars: &[char], i: usize) -> Option<usize> {
    let hashes = chars[i..].iter().take_while(|c| **c == '#').count();
    if chars.get(i + hashes) != Some(&'"') {
        return None;
    }
    let mut j = i + hashes + 1;
    while j < chars.len() {
        if chars[j] == '"'
            && chars[j + 1..]
                .iter()
                .take(hashes)
                .filter(|c| **c == '#')
                .count()
                == hashes
        {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(chars.len())
}

/// A char literal at `i` (`'a'`, `'\n'`, `'\u{1F600}'`); `None` for a lifetime or label.
fn char_literal_end(chars: &[char], i: usize) -> Option<usize> {
    match chars.get(i + 1)? {
        // The escaped character itself may be a quote: `'\''`.
        '\\' => {
            let close = chars.get(i + 3..)?.iter().position(|c| *c == '\'')?;
            Some(i + 3 + close + 1)
        }
        _ if chars.get(i + 2) == Some(&'\'') => Some(i + 3),
        _ => None,
    }
}
