//! Measurement: thread-local recorders on the hot path, merged after the run into AIPerf's
//! metric blocks.

pub mod dist;
pub mod errors;
pub mod metrics;

pub mod recorder;

pub use dist::Dist;
pub use errors::{ErrorClass, ErrorCounts, ErrorRow};
pub use metrics::{Block, Metric, Metrics};

pub use recorder::{Recorder, RequestRecord, Slo};
