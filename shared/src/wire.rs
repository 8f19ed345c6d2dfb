//! Every request, answer and event between the dashboard (or any client) and the gateway, one
//! file per resource; docs/API.md documents them. The gateway serialises these and nothing
//! else (its store rows are mapped into them), and the dashboard builds its requests from them.
//!
//! All are re-exported here: `berth_shared::wire::RunInfo` whichever file declares it.

mod audit;
mod containers;
mod demo;
mod engines;
mod error;
mod events;
mod health;
mod registries;
mod runs;
mod setup;
mod tokens;
mod users;

pub use audit::AuditEntry;
pub use containers::{AttachedRun, StatsSample};
pub use demo::{
    EndedReason, Extended, PoolStatus, SessionCounts, SessionInfo, SessionRequest, SessionState,
    Template, TemplateAccess, TemplateRequest,
};
pub use engines::{EngineState, EngineView, OnEngine};
pub use error::{ApiError, ApiErrorBody};
pub use events::{
    ClientMessage, ExecRequest, PullProgress, STREAM_STDERR, STREAM_STDOUT, ServerEvent,
};
pub use health::{EngineHealth, Health, Readiness};
pub use registries::{NewRegistry, RegistryView};
pub use runs::{RunCreated, RunInfo, RunRequest, RunState};
pub use setup::{Setup, SetupStatus};
pub use tokens::{CreatedToken, NewToken, TokenView};
pub use users::{Login, Me, NewUser, Role, UserView};
