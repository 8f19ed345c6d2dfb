//! What Berth's gateway and dashboard must agree on, so they agree by construction:
//! the WebSocket/REST wire types, the structured run spec, the `docker run` argument parser,
//! image references, and how a failure maps to the docker CLI's exit status.
//!
//! Pure Rust with no I/O: it builds for `wasm32-unknown-unknown` as well as natively.

pub mod argv;
pub mod csv;
pub mod exit;
pub mod labels;
pub mod mounts;
pub mod network;
pub mod plan;
pub mod ports;
pub mod record;
pub mod reference;
pub mod resources;
pub mod shell;
pub mod spec;
pub mod units;
pub mod wire;

/// The Engine API's container model, re-exported so both sides name the same types.
pub use bollard_stubs::models;

pub use labels::{
    LABEL_DEADLINE, LABEL_INSTANCE, LABEL_OWNER, LABEL_OWNER_ID, LABEL_POLICY, LABEL_PREFIX,
    LABEL_RUN_ID, LABEL_TEAM, Owner, RunLabels,
};
