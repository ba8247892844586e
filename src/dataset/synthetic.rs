//! Synthetic prompts with exact token counts, as AIPerf makes them: each text's length is
//! drawn from Normal(ISL − special tokens, stddev), rounded up, at least 1, and the text is a
//! run of corpus words starting at a random place whose re-encoded length is exactly that.
//!
//! Word-level tokenizers (BERT's WordPiece splits on whitespace first) make a text's count the
//! sum of its words' counts, so words are counted once and texts assembled by addition; every
//! text is still re-encoded to check, and repaired word by word where a tokenizer is not
//! additive.

use std::collections::HashMap;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

use super::TokenCounter;

const CORPUS: &str = include_str!("assets/shakespeare.txt");
/// Word-by-word repairs tried before giving up on a text.
const MAX_REPAIRS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyntheticSpec {
    /// `--synthetic-input-tokens-mean`: the count the server sees, special tokens included.
    pub isl_mean: f64,
    pub isl_stddev: f64,
    /// Texts per request.
    pub batch: usize,
    /// Unique payloads.
    pub entries: usize,
    pub seed: u64,
}

/// One payload's texts and its ISL.
pub type Entry = (Vec<String>, u64);

/// The corpus as words with their token counts.
pub struct Corpus<'t> {
    tokens: &'t TokenCounter,
    words: Vec<(&'static str, u32)>,
    /// Indices of one-token words, to top texts up during repairs.
    single: Vec<usize>,
}

impl<'t> Corpus<'t> {
    pub fn new(tokens: &'t TokenCounter) -> Result<Corpus<'t>, String> {
        let mut counts: HashMap<&str, u32> = HashMap::new();
        let mut words = Vec::new();
        for word in CORPUS.split_whitespace() {
            let n = match counts.get(word) {
                Some(&n) => n,
                None => {
                    let n = tokens.count(word)? as u32;
                    counts.insert(word, n);
                    n
                }
            };
            if n > 0 {
                words.push((word, n));
            }
        }
        let single: Vec<usize> = (0..words.len()).filter(|&i| words[i].1 == 1).collect();
        if single.is_empty() {
            return Err(format!(
                "tokenizer {} gives no one-token word in the corpus",
                tokens.source
            ));
        }
        Ok(Corpus {
            tokens,
            words,
            single,
        })
    }

    /// Texts for every entry, `entries × batch`, and each entry's ISL (texts joined by a space).
    /// Entries are built on every core; each has its own seeded generator, so the result does
    /// not depend on the number of threads.
    pub fn generate(&self, spec: &SyntheticSpec) -> Result<Vec<Entry>, String> {
        let special = self.tokens.special_tokens() as f64;
        let length = Normal::new(spec.isl_mean - special, spec.isl_stddev.max(0.0))
            .map_err(|e| format!("invalid ISL distribution: {e}"))?;
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(spec.entries.max(1));
        let per_thread = spec.entries.div_ceil(threads);
        let chunks: Vec<Result<Vec<Entry>, String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let range = (t * per_thread)..((t + 1) * per_thread).min(spec.entries);
                    scope.spawn(move || range.map(|i| self.entry(spec, &length, i)).collect())
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("dataset thread panicked".into()))
                })
                .collect()
        });
        let mut entries = Vec::with_capacity(spec.entries);
        for chunk in chunks {
            entries.extend(chunk?);
        }
        Ok(entries)
    }

    fn entry(
        &self,
        spec: &SyntheticSpec,
        length: &Normal<f64>,
        index: usize,
    ) -> Result<Entry, String> {
        let mut rng =
            SmallRng::seed_from_u64(spec.seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut texts = Vec::with_capacity(spec.batch);
        let mut counted = 0;
        for _ in 0..spec.batch {
            let n = length.sample(&mut rng).ceil().max(1.0) as u32;
            texts.push(self.text(n, &mut rng)?);
            counted += u64::from(n);
        }
        // One text was just verified to be exactly n tokens; a batch is counted joined, as
        // AIPerf counts it.
        let isl = if texts.len() == 1 {
            counted
        } else {
            self.tokens.count(&texts.join(" "))? as u64
        };
        Ok((texts, isl))
    }

    /// A text of exactly `n` tokens.
    pub fn text(&self, n: u32, rng: &mut SmallRng) -> Result<String, String> {
        let mut picked: Vec<&str> = Vec::new();
        let mut left = n;
        let mut i = rng.gen_range(0..self.words.len());
        // Take words in corpus order, skipping any that would overshoot; one-token words are
        // common, so this ends within a few words of the target.
        for _ in 0..self.words.len() * 2 {
            if left == 0 {
                break;
            }
            let (word, count) = self.words[i];
            if count <= left {
                picked.push(word);
                left -= count;
            }
            i = (i + 1) % self.words.len();
        }
        let mut text = picked.join(" ");
        for _ in 0..MAX_REPAIRS {
            let actual = self.tokens.count(&text)? as u32;
            if actual == n {
                return Ok(text);
            }
            if actual > n && picked.len() > 1 {
                picked.pop();
            } else {
                picked.push(self.words[self.single[rng.gen_range(0..self.single.len())]].0);
            }
            text = picked.join(" ");
        }
        Err(format!(
            "could not build a text of exactly {n} tokens with tokenizer {}",
            self.tokens.source
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_have_exact_counts() {
        let tokens = TokenCounter::builtin();
        let corpus = Corpus::new(&tokens).unwrap();
        let mut rng = SmallRng::seed_from_u64(3);
        for n in [1, 2, 7, 100, 550, 2000] {
            let text = corpus.text(n, &mut rng).unwrap();
            assert_eq!(tokens.count(&text).unwrap(), n as usize, "{n}");
        }
    }

    #[test]
    fn lengths_follow_the_spec_and_the_seed() {
        let tokens = TokenCounter::builtin();
        let corpus = Corpus::new(&tokens).unwrap();
        let spec = SyntheticSpec {
            isl_mean: 100.0,
            isl_stddev: 0.0,
            batch: 2,
            entries: 5,
            seed: 1,
        };
        let a = corpus.generate(&spec).unwrap();
        assert_eq!(a.len(), 5);
        for (texts, isl) in &a {
            assert_eq!(texts.len(), 2);
            for t in texts {
                assert_eq!(tokens.count(t).unwrap(), 98);
            }
            assert_eq!(*isl, 196);
        }
        assert_eq!(a, corpus.generate(&spec).unwrap());
        assert_ne!(
            a,
            corpus.generate(&SyntheticSpec { seed: 2, ..spec }).unwrap()
        );
    }
}
