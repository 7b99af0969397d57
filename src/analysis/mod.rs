//! Analysis of run records: failure signatures, statistics, and campaign summaries.

pub mod bisect;
pub mod hunt;
pub mod per_test;
pub mod runner_messages;
pub mod series;
pub mod signature;
pub mod spec_diff;
pub mod stats;
pub mod summary;
pub mod verdict;
pub mod window;
