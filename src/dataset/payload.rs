//! Request bodies: compact JSON `{"model": M, "input": [...]}` with extras merged last, and
//! each body's token count, all computed before the run.

use serde_json::{Map, Value};

use super::TokenCounter;

#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    /// The compact JSON body.
    pub body: Vec<u8>,
    /// Texts in the `input` list.
    pub inputs: u32,
    /// The texts joined by one space, tokenized without special tokens (AIPerf's ISL).
    pub isl: u64,
}

/// Builds bodies for one run: models round-robin over payloads, extras merged last.
pub struct PayloadBuilder<'a> {
    pub models: &'a [String],
    /// `--extra-inputs`, merged into every body after the entry's own extras.
    pub extra_inputs: &'a Map<String, Value>,
    pub tokens: &'a TokenCounter,
}

impl PayloadBuilder<'_> {
    /// The payload at position `index` of the dataset.
    pub fn build(
        &self,
        index: usize,
        texts: &[String],
        extra: Option<&Map<String, Value>>,
        isl: Option<u64>,
    ) -> Result<Payload, String> {
        let mut body = Map::new();
        body.insert(
            "model".into(),
            Value::String(self.models[index % self.models.len()].clone()),
        );
        body.insert(
            "input".into(),
            Value::Array(texts.iter().cloned().map(Value::String).collect()),
        );
        for extras in extra.into_iter().chain([self.extra_inputs]) {
            for (k, v) in extras {
                body.insert(k.clone(), v.clone());
            }
        }
        let isl = match isl {
            Some(n) => n,
            None => self.tokens.count(&texts.join(" "))? as u64,
        };
        let body = serde_json::to_vec(&Value::Object(body)).map_err(|e| e.to_string())?;
        Ok(Payload {
            body,
            inputs: texts.len() as u32,
            isl,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_aiperf_bodies() {
        let tokens = TokenCounter::builtin();
        let extra_inputs: Map<String, Value> =
            serde_json::from_str(r#"{"encoding_format":"float","dimensions":8}"#).unwrap();
        let models = vec!["a".to_string(), "b".to_string()];
        let b = PayloadBuilder {
            models: &models,
            extra_inputs: &extra_inputs,
            tokens: &tokens,
        };
        let line_extra: Map<String, Value> =
            serde_json::from_str(r#"{"dimensions":4,"user":"u"}"#).unwrap();
        let p = b
            .build(
                1,
                &["hello world".into(), "the cat".into()],
                Some(&line_extra),
                None,
            )
            .unwrap();
        assert_eq!(
            String::from_utf8(p.body).unwrap(),
            r#"{"model":"b","input":["hello world","the cat"],"dimensions":8,"user":"u","encoding_format":"float"}"#
        );
        assert_eq!((p.inputs, p.isl), (2, 4));
    }
}
