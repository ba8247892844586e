//! Datasets: where the texts come from (input files, synthetic prompts), and the payloads built
//! from them before the clock starts: compact JSON bodies with their precomputed token counts.

pub mod jsonl;
pub mod payload;
pub mod synthetic;
pub mod tokenizer;

pub use payload::{Payload, PayloadBuilder};
pub use tokenizer::TokenCounter;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value};

use crate::config::{DatasetSource, FileKind, RunConfig};

/// Every payload of the run, with token counts, built before the clock starts.
pub fn build(config: &RunConfig, tokens: &TokenCounter) -> Result<Vec<Payload>, String> {
    let builder = PayloadBuilder {
        models: &config.models,
        extra_inputs: &config.extra_inputs,
        tokens,
    };
    match &config.dataset {
        DatasetSource::Synthetic { .. } => {
            let spec = config.synthetic_spec().expect("synthetic source");
            let corpus = synthetic::Corpus::new(tokens)?;
            let entries = corpus.generate(&spec)?;
            entries
                .iter()
                .enumerate()
                .map(|(i, (texts, isl))| builder.build(i, texts, None, Some(*isl)))
                .collect()
        }
        DatasetSource::File {
            path,
            kind: FileKind::SingleTurn,
        } => {
            let entries = jsonl::load(path)?;
            entries
                .iter()
                .enumerate()
                .map(|(i, e)| builder.build(i, &e.texts, e.extra.as_ref(), None))
                .collect()
        }
        DatasetSource::File {
            path,
            kind: FileKind::RandomPool,
        } => {
            let pool: Vec<String> = jsonl::load(path)?
                .into_iter()
                .flat_map(|e| e.texts)
                .collect();
            let mut rng = SmallRng::seed_from_u64(config.seed);
            let no_extra: Option<&Map<String, Value>> = None;
            (0..config.dataset_entries)
                .map(|i| {
                    // Each slot samples the pool independently, with replacement.
                    let texts: Vec<String> = (0..config.batch_size)
                        .map(|_| pool[rng.gen_range(0..pool.len())].clone())
                        .collect();
                    builder.build(i, &texts, no_extra, None)
                })
                .collect()
        }
    }
}
