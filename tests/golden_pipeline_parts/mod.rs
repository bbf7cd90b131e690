//! The three replays of `tests/golden_pipeline.rs`, one module per golden file.

pub mod reconciler;
pub mod scraper;
pub mod throttler;
