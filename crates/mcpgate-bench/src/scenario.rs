//! What the virtual clients send: a weighted set of tool calls.
//!
//! The default load mode builds a scenario of one tool. The `workspace` scenario
//! ([`crate::workspace`]) draws its operations from a weighted mix, but builds each call's
//! arguments itself, since they depend on what earlier calls returned.

use serde_json::Value;

/// One request target: a tool name and its arguments (or a resource's URI, or a prompt's name
/// and arguments, for the other [`Method`]s).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// What is asked for.
    pub method: Method,
    /// The tool's name as the server lists it (the resource's URI, the prompt's name).
    pub name: String,
    /// The `arguments` object sent with every call (not sent with a resource read).
    pub arguments: Value,
}

impl ToolCall {
    /// A call of `name` with `arguments`.
    pub fn new(name: impl Into<String>, arguments: Value) -> Self {
        Self {
            method: Method::ToolsCall,
            name: name.into(),
            arguments,
        }
    }

    /// The same target, asked for with `method`.
    pub fn with_method(self, method: Method) -> Self {
        Self { method, ..self }
    }
}

/// The MCP request a target is asked for with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// `tools/call` of the named tool.
    #[value(name = "tools/call")]
    ToolsCall,
    /// `resources/read` of the named URI.
    #[value(name = "resources/read")]
    ResourcesRead,
    /// `prompts/get` of the named prompt.
    #[value(name = "prompts/get")]
    PromptsGet,
}

impl Method {
    /// The JSON-RPC method.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::ToolsCall => "tools/call",
            Method::ResourcesRead => "resources/read",
            Method::PromptsGet => "prompts/get",
        }
    }

    /// The request's params for `target` (without `_meta`).
    pub fn params(self, target: &ToolCall) -> serde_json::Map<String, Value> {
        let mut params = serde_json::Map::new();
        match self {
            Method::ResourcesRead => {
                params.insert("uri".into(), target.name.clone().into());
            }
            Method::ToolsCall | Method::PromptsGet => {
                params.insert("name".into(), target.name.clone().into());
                params.insert("arguments".into(), target.arguments.clone());
            }
        }
        params
    }
}

/// A set of tool calls, each drawn in proportion to its weight.
#[derive(Debug, Clone)]
pub struct Scenario {
    calls: Vec<ToolCall>,
    /// Running totals of the weights, for a binary-search draw.
    cumulative: Vec<u64>,
}

impl Scenario {
    /// A scenario that always calls the same tool.
    pub fn single(call: ToolCall) -> Self {
        Self {
            calls: vec![call],
            cumulative: vec![1],
        }
    }

    /// A scenario with no calls, for a client that only sends one-off calls
    /// ([`crate::client::VirtualClient::call_tool`]).
    pub fn empty() -> Self {
        Self {
            calls: Vec::new(),
            cumulative: Vec::new(),
        }
    }

    /// A weighted mix; entries with weight 0 are never drawn. `None` if nothing can be drawn.
    pub fn weighted(entries: Vec<(ToolCall, u64)>) -> Option<Self> {
        let mut total = 0u64;
        let mut calls = Vec::with_capacity(entries.len());
        let mut cumulative = Vec::with_capacity(entries.len());
        for (call, weight) in entries {
            total = total.checked_add(weight)?;
            calls.push(call);
            cumulative.push(total);
        }
        (total > 0).then_some(Self { calls, cumulative })
    }

    /// Every call in the scenario, in the order [`Scenario::pick`] indexes them.
    pub fn calls(&self) -> &[ToolCall] {
        &self.calls
    }

    /// The index of the call to send for a uniformly random `draw`.
    pub fn pick(&self, draw: u64) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(1);
        let point = draw % total;
        self.cumulative.partition_point(|&upto| upto <= point)
    }

    /// A short name for reports: the tool, or `name:weight,…` for a mix.
    pub fn describe(&self) -> String {
        if let [call] = self.calls.as_slice() {
            return match call.method {
                Method::ToolsCall => call.name.clone(),
                other => format!("{} {}", other.as_str(), call.name),
            };
        }
        let mut previous = 0;
        let mut parts = Vec::with_capacity(self.calls.len());
        for (call, &upto) in self.calls.iter().zip(&self.cumulative) {
            parts.push(format!("{}:{}", call.name, upto - previous));
            previous = upto;
        }
        parts.join(",")
    }
}

/// A small, fast pseudo-random sequence (SplitMix64) for drawing calls; one per client.
#[derive(Debug, Clone)]
pub struct Draws(u64);

impl Draws {
    /// A sequence seeded with `seed`; give each virtual client its own.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next value.
    pub fn next_draw(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn single_tool_is_always_picked() {
        let scenario = Scenario::single(ToolCall::new("health", json!({})));
        let mut draws = Draws::new(7);
        assert!((0..100).all(|_| scenario.pick(draws.next_draw()) == 0));
        assert_eq!(scenario.describe(), "health");
    }

    #[test]
    fn weights_shape_the_mix() {
        let scenario = Scenario::weighted(vec![
            (ToolCall::new("a", json!({})), 3),
            (ToolCall::new("never", json!({})), 0),
            (ToolCall::new("b", json!({})), 1),
        ])
        .expect("positive total weight");
        let mut counts = [0u32; 3];
        let mut draws = Draws::new(1);
        for _ in 0..40_000 {
            counts[scenario.pick(draws.next_draw())] += 1;
        }
        assert_eq!(counts[1], 0, "weight 0 is never drawn");
        let share = f64::from(counts[0]) / 40_000.0;
        assert!((0.72..0.78).contains(&share), "a drawn {share}");
        assert_eq!(scenario.describe(), "a:3,never:0,b:1");
    }

    #[test]
    fn all_zero_weights_are_refused() {
        assert!(Scenario::weighted(vec![(ToolCall::new("a", json!({})), 0)]).is_none());
    }
}
