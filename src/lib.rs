//! flakehunt: hunt intermittent failures.
//!
//! Data flows one way: a [`spec::CampaignSpec`] goes to the [`runner`], which spawns, times and
//! captures each run and yields [`record::RunRecord`]s; the [`campaign`] coordinator classifies
//! each record with [`analysis`], archives failures and feeds the [`sink`]s; at the end the
//! tallies become a [`analysis::summary::Summary`] that [`report`] renders.

pub mod analysis;
pub mod bisect;
pub mod campaign;
pub mod cli;
pub mod demo;
pub mod ingest;
pub mod os;
pub mod record;
pub mod report;
pub mod runner;
pub mod shake;
pub mod sink;
pub mod spec;
pub mod store;
pub mod text;
