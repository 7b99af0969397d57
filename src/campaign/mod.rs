//! The campaign core that every command runs through: [`setup`] turns a request into a checked
//! spec, [`launch`] wires the sinks, history and guard around it, and the [`coordinator`]
//! drives the runner and summarises; [`hunt`] runs a hunt as one campaign of its arms. Commands only parse arguments and render results.

pub mod coordinator;
pub mod hunt;
pub mod launch;
pub mod per_test;
pub mod recipe;
pub mod setup;
pub mod target;

pub use coordinator::{CampaignResult, Steering};
pub use launch::{launch, launch_steered};
pub use setup::{prepare, CampaignRequest, Prepared};
