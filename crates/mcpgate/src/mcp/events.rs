//! Change events inside one process: list changes and resource updates, fanned out to every
//! `subscriptions/listen` stream and legacy session that wants them.

use tokio::sync::broadcast;

/// Something that changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// The tool list changed.
    ToolsListChanged,
    /// The prompt list changed.
    PromptsListChanged,
    /// The resource list changed.
    ResourcesListChanged,
    /// One resource's content changed.
    ResourceUpdated(String),
}

/// A broadcast bus of [`ServerEvent`]s. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EventBus {
    sender: broadcast::Sender<ServerEvent>,
}

impl EventBus {
    /// A bus that buffers up to `capacity` events per slow listener.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity);
        Self { sender }
    }

    /// Announce an event to whoever listens now.
    pub fn publish(&self, event: ServerEvent) {
        // No listener is fine: nobody has asked to hear about changes.
        let _ = self.sender.send(event);
    }

    /// Listen to events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ServerEvent> {
        self.sender.subscribe()
    }
}
