//! The journal: the most recent warnings and errors the process logged, kept in memory for the
//! admin status page. A `tracing` layer beside the stderr one; bounded in entries and in the
//! length of each, so a flood of failures costs a fixed amount of memory.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// Entries kept; older ones are dropped.
const CAPACITY: usize = 50;
/// Longest text kept of one entry, in bytes.
const MAX_TEXT: usize = 512;

/// One warning or error.
#[derive(Debug, Clone)]
pub struct JournalEntry {
    /// When it was logged.
    pub at: SystemTime,
    /// `WARN` or `ERROR`.
    pub level: &'static str,
    /// The module that logged it.
    pub target: String,
    /// The message and its fields, `message key=value …`.
    pub text: String,
}

/// The recent warnings and errors. Cheap to clone; a detached journal (the default) stays empty.
#[derive(Debug, Clone, Default)]
pub struct Journal {
    entries: Arc<Mutex<VecDeque<JournalEntry>>>,
}

impl Journal {
    /// The entries, newest first.
    pub fn recent(&self) -> Vec<JournalEntry> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.iter().rev().cloned().collect()
    }

    fn push(&self, entry: JournalEntry) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() == CAPACITY {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    /// The `tracing` layer that writes into this journal.
    pub fn layer(&self) -> JournalLayer {
        JournalLayer {
            journal: self.clone(),
        }
    }
}

/// Records WARN and ERROR events into a [`Journal`].
pub struct JournalLayer {
    journal: Journal,
}

impl<S: Subscriber> Layer<S> for JournalLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = *event.metadata().level();
        if level > Level::WARN {
            return;
        }
        let mut text = Text::default();
        event.record(&mut text);
        self.journal.push(JournalEntry {
            at: SystemTime::now(),
            level: if level == Level::ERROR {
                "ERROR"
            } else {
                "WARN"
            },
            target: event.metadata().target().to_owned(),
            text: text.finish(),
        });
    }
}

/// An event's message first, then its other fields, cut at [`MAX_TEXT`].
#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl Text {
    fn finish(self) -> String {
        let mut text = self.message;
        text.push_str(&self.fields);
        if text.len() > MAX_TEXT {
            let mut end = MAX_TEXT;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push('…');
        }
        text
    }
}

impl Visit for Text {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn keeps_the_newest_warnings_and_errors_only() {
        let journal = Journal::default();
        let subscriber = tracing_subscriber::registry().with(journal.layer());
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("not kept");
            for i in 0..(CAPACITY + 5) {
                tracing::warn!(attempt = i, upstream = "files", "upstream failed");
            }
            tracing::error!(error = "x".repeat(2 * MAX_TEXT), "too long");
        });
        let recent = journal.recent();
        assert_eq!(recent.len(), CAPACITY);
        assert_eq!(recent[0].level, "ERROR");
        assert!(recent[0].text.starts_with("too long error="));
        assert!(recent[0].text.len() <= MAX_TEXT + '…'.len_utf8());
        assert_eq!(recent[1].text, "upstream failed attempt=54 upstream=files");
        assert!(recent.iter().all(|e| !e.text.contains("not kept")));
    }
}
