//! flakehunt: hunt intermittent failures.
//!
//! Data flows one way: a [`spec::CampaignSpec`] goes to the [`runner`], which spawns, times and
//! captures each run and yields [`record::RunRecord`]s; the [`campaign`] coordinator classifies
//! each record with [`analysis`], archives failures and feeds the [`sink`]s; at the end the
//! tallies become a [`analysis::summary::Summary`] that [`report`] renders.

pub(crate) mod analysis;
pub(crate) mod bisect;
pub(crate) mod bundle;
pub(crate) mod campaign;
pub mod cli;
pub(crate) mod config;
pub(crate) mod demo;
pub(crate) mod diagnose;
pub(crate) mod dispatch;
pub(crate) mod ingest;
pub(crate) mod os;
pub(crate) mod record;
pub(crate) mod report;
pub(crate) mod runner;
pub mod shake;
pub(crate) mod sink;
pub(crate) mod spec;
pub mod store;
pub(crate) mod target;
pub(crate) mod text;
