//! Datasets: where the texts come from (input files, synthetic prompts), and the payloads built
//! from them before the clock starts: compact JSON bodies with their precomputed token counts.

pub mod jsonl;
pub mod payload;
pub mod synthetic;
pub mod tokenizer;

pub use payload::{Payload, PayloadBuilder};
pub use tokenizer::TokenCounter;
