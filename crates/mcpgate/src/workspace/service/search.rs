//! `search`: a page of ranked hits, walked window by window (see [`crate::workspace::search`]).

use tracing::Instrument as _;

use super::reads::json_len;
use super::store_span;
use super::{Result, WorkspaceError, WorkspaceService};
use crate::workspace::cursor::{self, SearchCursor};
use crate::workspace::fields::{self, FieldError};
use crate::workspace::record::Tenant;
use crate::workspace::search::{self, Candidate, SearchWindow, WINDOW};
use crate::workspace::snippet;
use crate::workspace::view::{self, SearchPage, SearchResult};

/// The most windows one page reads: a page that starts near the end of a window goes on into
/// the next, and no further.
const WINDOWS_PER_PAGE: usize = 2;

impl WorkspaceService {
    /// `search`: ranked full-text search over the caller's records that are not archived.
    pub async fn search(
        &self,
        t: &Tenant,
        query: &str,
        limit: Option<u32>,
        cursor_text: Option<&str>,
    ) -> Result<SearchPage> {
        let words = search::words(query);
        if words.is_empty() {
            let message = "must contain at least one letter or digit";
            return Err(FieldError::new("query", message).into());
        }
        let q = words.join(" ");
        let mut at = match cursor_text {
            None => SearchCursor {
                q,
                before: None,
                after: None,
            },
            Some(text) => {
                let c: SearchCursor =
                    cursor::decode(text).ok_or(WorkspaceError::BadCursor("not a search cursor"))?;
                if c.q != q {
                    return Err(WorkspaceError::BadCursor(
                        "the cursor belongs to another query",
                    ));
                }
                c
            }
        };
        let limit = limit
            .unwrap_or(self.limits.default_page_size)
            .clamp(1, self.limits.max_page_size) as usize;
        let budget = self.result_budget();
        let mut used = 0;
        let mut results = Vec::with_capacity(limit);
        let mut next = None;
        let mut window = SearchWindow {
            words,
            before: None,
            size: WINDOW,
        };
        for _ in 0..WINDOWS_PER_PAGE {
            window.before = at.before;
            let matches = self
                .store
                .search_window(t, &window)
                .instrument(store_span("search_window"))
                .await?;
            let (Some(newest), Some(oldest)) = (matches.first(), matches.last()) else {
                next = None;
                break;
            };
            // The window's bound, fixed by its first page: what is inserted later waits for a
            // new search instead of shifting these pages.
            let before = at.before.unwrap_or(newest.seq + 1);
            let older = (matches.len() == WINDOW as usize).then_some(oldest.seq);
            let rest = search::rank(&window.words, matches)
                .into_iter()
                .filter(|(key, _)| at.after.is_none_or(|after| *key > after));
            let (mut last, mut full) = (None, false);
            for (key, hit) in rest {
                if results.len() == limit {
                    full = true;
                    break;
                }
                let result = self.result(&hit, &window.words);
                let size = json_len(&result) + 1;
                if !results.is_empty() && used + size > budget {
                    full = true;
                    break;
                }
                used += size;
                results.push(result);
                last = Some(key);
            }
            if full {
                // The page ends inside this window.
                next = Some(SearchCursor {
                    q: at.q.clone(),
                    before: Some(before),
                    after: last.or(at.after),
                });
                break;
            }
            // This window is done: the next page starts in the next older one, if any.
            let Some(older) = older else {
                next = None;
                break;
            };
            at = SearchCursor {
                q: at.q,
                before: Some(older),
                after: None,
            };
            next = Some(at.clone());
            if results.len() == limit {
                break;
            }
        }
        Ok(SearchPage {
            results,
            next_cursor: next.map(|c| cursor::encode(&c)),
        })
    }

    /// A search result for one hit.
    fn result(&self, hit: &Candidate, words: &[String]) -> SearchResult {
        SearchResult {
            id: hit.id.clone(),
            title: fields::display_title(hit.kind, hit.title.as_deref(), &hit.text),
            url: view::url(&self.limits.public_url, hit.kind, &hit.id),
            kind: hit.kind,
            snippet: snippet::snippet(hit.title.as_deref(), &hit.text, words),
        }
    }
}
