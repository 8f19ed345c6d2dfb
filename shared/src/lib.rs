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
