//! The built-in demo: a small racy program modelled on the story's bug, and its driver.

pub mod racy;
