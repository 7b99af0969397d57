//! Analysis of run records: failure signatures, statistics, and campaign summaries.

pub mod bisect;
pub mod hunt;
pub mod signature;
pub mod stats;
pub mod summary;
pub mod verdict;
pub mod window;
