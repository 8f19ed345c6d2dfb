//! What Berth's gateway and dashboard must agree on, so they agree by construction:
//! the WebSocket/REST wire types, the structured run spec, the `docker run` argument parser,
//! image references, and how a failure maps to the docker CLI's exit status.
//!
//! Pure Rust with no I/O: it builds for `wasm32-unknown-unknown` as well as natively.

pub mod argv;
pub mod csv;
pub mod exit;
pub mod mounts;
pub mod network;
pub mod plan;
pub mod ports;
pub mod reference;
pub mod resources;
pub mod spec;
pub mod units;
pub mod wire;

/// The Engine API's container model, re-exported so both sides name the same types.
pub use bollard_stubs::models;

/// Prefix of every label Berth puts on the containers it creates.
pub const LABEL_PREFIX: &str = "io.berth.";
/// Label holding the Berth run id of a container.
pub const LABEL_RUN_ID: &str = "io.berth.run-id";
/// Label holding the user who started the container through Berth.
pub const LABEL_OWNER: &str = "io.berth.owner";
/// Label holding that user's team (may be empty).
pub const LABEL_TEAM: &str = "io.berth.team";
/// Label naming the Berth instance (its data directory) that started the container: after a
/// restart an instance follows only its own containers again.
pub const LABEL_INSTANCE: &str = "io.berth.instance";
/// Label holding when Berth stops the container (Unix seconds), under a run-time limit.
pub const LABEL_DEADLINE: &str = "io.berth.deadline";
