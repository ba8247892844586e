//! Finding and using a tokenizer: a local file or directory, the local Hugging Face cache, or
//! the built-in BERT-uncased vocabulary. Nothing is downloaded.

use std::path::{Path, PathBuf};

use tokenizers::{PostProcessor, Tokenizer};

const BUILTIN_JSON: &[u8] = include_bytes!("assets/bert-base-uncased-tokenizer.json");
pub const BUILTIN_NAME: &str = "builtin";

pub struct TokenCounter {
    tokenizer: Tokenizer,
    /// Tokens the tokenizer adds around one sequence ([CLS] and [SEP] for BERT).
    special: usize,
    /// Where it came from, for reports.
    pub source: String,
}

/// How `--tokenizer` was given.
pub enum TokenizerChoice<'a> {
    Explicit(&'a str),
    /// Not given: the model name is tried, and the built-in one used when it cannot be found.
    FromModel(&'a str),
}

impl TokenCounter {
    pub fn builtin() -> TokenCounter {
        let tokenizer = Tokenizer::from_bytes(BUILTIN_JSON).expect("the vendored tokenizer parses");
        TokenCounter::new(tokenizer, "builtin (bert-base-uncased)".into())
    }

    pub fn from_file(path: &Path) -> Result<TokenCounter, String> {
        let tokenizer = Tokenizer::from_file(path)
            .map_err(|e| format!("cannot load tokenizer {}: {e}", path.display()))?;
        Ok(TokenCounter::new(tokenizer, path.display().to_string()))
    }

    fn new(mut tokenizer: Tokenizer, source: String) -> TokenCounter {
        // Counting needs the raw encoding: files often ship with padding to a fixed length and
        // truncation to the model's window, which would hide the true count.
        tokenizer.with_padding(None);
        let _ = tokenizer.with_truncation(None);
        let special = tokenizer
            .get_post_processor()
            .map_or(0, |p| p.added_tokens(false));
        TokenCounter {
            tokenizer,
            special,
            source,
        }
    }

    /// Resolves the choice; the second value is a warning to show when a fallback was taken.
    pub fn resolve(choice: TokenizerChoice) -> Result<(TokenCounter, Option<String>), String> {
        match choice {
            TokenizerChoice::Explicit(name) if name == BUILTIN_NAME => Ok((TokenCounter::builtin(), None)),
            TokenizerChoice::Explicit(name) => match locate(name) {
                Some(path) => Ok((TokenCounter::from_file(&path)?, None)),
                None => Err(format!(
                    "--tokenizer {name}: no tokenizer.json there or in the Hugging Face cache ({}); pass a tokenizer.json file or a directory holding one, or --tokenizer builtin",
                    hf_hub_dir().display()
                )),
            },
            TokenizerChoice::FromModel(model) => match locate(model) {
                Some(path) => Ok((TokenCounter::from_file(&path)?, None)),
                None => Ok((
                    TokenCounter::builtin(),
                    Some(format!("no tokenizer for '{model}' in the Hugging Face cache; counting tokens with the built-in BERT-uncased tokenizer (pass --tokenizer for another)")),
                )),
            },
        }
    }

    pub fn special_tokens(&self) -> usize {
        self.special
    }

    /// Tokens in `text` without special tokens (AIPerf's input sequence length).
    pub fn count(&self, text: &str) -> Result<usize, String> {
        Ok(self
            .tokenizer
            .encode_fast(text, false)
            .map_err(|e| format!("tokenizer failed: {e}"))?
            .len())
    }
}

/// A file, a directory holding `tokenizer.json`, or a hub id in the local cache.
fn locate(name: &str) -> Option<PathBuf> {
    let path = Path::new(name);
    if path.is_file() {
        return Some(path.to_path_buf());
    }
    if path.is_dir() {
        let file = path.join("tokenizer.json");
        return file.is_file().then_some(file);
    }
    cached(name)
}

fn hf_hub_dir() -> PathBuf {
    if let Some(dir) =
        std::env::var_os("HF_HUB_CACHE").or_else(|| std::env::var_os("HUGGINGFACE_HUB_CACHE"))
    {
        return PathBuf::from(dir);
    }
    if let Some(home) = std::env::var_os("HF_HOME") {
        return PathBuf::from(home).join("hub");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".cache/huggingface/hub")
}

/// `models--ORG--NAME/snapshots/<rev>/tokenizer.json`, preferring the revision `refs/main` names.
fn cached(repo_id: &str) -> Option<PathBuf> {
    let repo = hf_hub_dir().join(format!("models--{}", repo_id.replace('/', "--")));
    let snapshots = repo.join("snapshots");
    if let Ok(rev) = std::fs::read_to_string(repo.join("refs/main")) {
        let file = snapshots.join(rev.trim()).join("tokenizer.json");
        if file.is_file() {
            return Some(file);
        }
    }
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(&snapshots)
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("tokenizer.json")))
        .filter(|p| p.is_file())
        .collect();
    candidates.sort();
    candidates.pop()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_counts_like_bert() {
        let t = TokenCounter::builtin();
        assert_eq!(t.special_tokens(), 2);
        assert_eq!(t.count("hello world").unwrap(), 2);
        assert_eq!(t.count("The cat sat.").unwrap(), 4);
    }

    #[test]
    fn finds_the_hugging_face_cache_layout() {
        let dir = std::env::temp_dir().join(format!("embperf-hf-{}", std::process::id()));
        let snap = dir.join("hub/models--org--name/snapshots/abc");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::create_dir_all(dir.join("hub/models--org--name/refs")).unwrap();
        std::fs::write(dir.join("hub/models--org--name/refs/main"), "abc").unwrap();
        std::fs::write(snap.join("tokenizer.json"), BUILTIN_JSON).unwrap();
        // SAFETY: this test is the only one that reads or writes HF_HOME.
        unsafe { std::env::set_var("HF_HOME", &dir) };
        let found = cached("org/name");
        unsafe { std::env::remove_var("HF_HOME") };
        assert_eq!(found, Some(snap.join("tokenizer.json")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
