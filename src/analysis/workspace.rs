//! Workspace policies (seed 5.3.4): how per-op scratch requests (im2col columns, attention
//! scores) become buffers for the planner.

use crate::graph::Op;
use serde::{Deserialize, Serialize};

/// How scratch requests are turned into planned buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum WorkspacePolicy {
    /// One region sized to the largest request, live for the whole run (W_global).
    Global,
    /// One region per op family (convolution, attention), each sized to its largest request
    /// and live from that family's first request to its last.
    Grouped,
    /// Each request is its own buffer live only during its node, so the planner may overlap it
    /// with dead activations.
    #[default]
    Planned,
}

impl WorkspacePolicy {
    /// Every policy, for reports that compare them.
    pub const ALL: [WorkspacePolicy; 3] = [
        WorkspacePolicy::Global,
        WorkspacePolicy::Grouped,
        WorkspacePolicy::Planned,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            WorkspacePolicy::Global => "global",
            WorkspacePolicy::Grouped => "grouped",
            WorkspacePolicy::Planned => "planned",
        }
    }

    /// Parses a command-line name.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == s)
    }
}

/// The family a node's workspace request belongs to under [`WorkspacePolicy::Grouped`]:
/// `"conv"` for convolutions, `"attention"` for everything else that asks for scratch.
pub fn workspace_family(op: &Op) -> &'static str {
    match op {
        Op::Conv2d(_) => "conv",
        _ => "attention",
    }
}
