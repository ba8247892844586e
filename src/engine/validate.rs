//! Checks that a 2xx body is an OpenAI embeddings list with one embedding per input. Runs on a
//! sample of responses, off the common path.

use serde::de::IgnoredAny;
use serde::Deserialize;
use std::borrow::Cow;

#[derive(Deserialize)]
struct EmbeddingsList<'a> {
    #[serde(borrow)]
    data: Vec<Item<'a>>,
}

#[derive(Deserialize)]
struct Item<'a> {
    #[serde(borrow)]
    object: Cow<'a, str>,
    #[allow(dead_code)]
    embedding: IgnoredAny,
}

/// `Err` says what is wrong, for the error summary.
pub fn check_embeddings(body: &[u8], inputs: u32) -> Result<(), String> {
    let list: EmbeddingsList =
        serde_json::from_slice(body).map_err(|e| format!("not an embeddings list: {e}"))?;
    if let Some(bad) = list.data.iter().find(|i| i.object != "embedding") {
        return Err(format!(
            "data[].object is \"{}\", not \"embedding\"",
            bad.object
        ));
    }
    if list.data.len() != inputs as usize {
        return Err(format!(
            "{} embeddings for {inputs} inputs",
            list.data.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_matching_embeddings_lists() {
        let ok = br#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}],"model":"m"}"#;
        assert_eq!(check_embeddings(ok, 1), Ok(()));
        assert!(check_embeddings(ok, 2)
            .unwrap_err()
            .contains("1 embeddings for 2 inputs"));
        assert!(
            check_embeddings(br#"{"data":[{"object":"chat","embedding":[]}]}"#, 1)
                .unwrap_err()
                .contains("chat")
        );
        assert!(check_embeddings(b"<html>", 1).is_err());
        assert!(check_embeddings(br#"{"data":[{"object":"embedding"}]}"#, 1).is_err());
    }
}
