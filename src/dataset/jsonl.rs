//! AIPerf's custom dataset files: JSONL, one object per line, `{"text": ...}` or
//! `{"texts": [...]}` with an optional `"extra"` object merged into that request's body.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// One line of a dataset file.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub texts: Vec<String>,
    pub extra: Option<Map<String, Value>>,
}

/// Reads every entry of a file, or of every file in a directory (sorted by name).
pub fn load(path: &Path) -> Result<Vec<Entry>, String> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut entries = Vec::new();
    for file in &files {
        let bytes =
            std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            format!(
                "{}: not UTF-8 (byte {})",
                file.display(),
                e.utf8_error().valid_up_to()
            )
        })?;
        entries.extend(parse(&text).map_err(|e| format!("{}:{e}", file.display()))?);
    }
    if entries.is_empty() {
        return Err(format!(
            "{}: no entries (expected JSONL lines like {{\"text\": \"...\"}})",
            path.display()
        ));
    }
    Ok(entries)
}

/// Parses JSONL text. Errors read `LINE: message`.
pub fn parse(text: &str) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        entries.push(parse_line(line).map_err(|e| format!("{}: {e}", i + 1))?);
    }
    Ok(entries)
}

fn parse_line(line: &str) -> Result<Entry, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let Value::Object(mut obj) = value else {
        return Err("expected a JSON object with \"text\" or \"texts\"".into());
    };
    let texts = match (obj.remove("text"), obj.remove("texts")) {
        (Some(_), Some(_)) => return Err("has both \"text\" and \"texts\"".into()),
        (Some(Value::String(s)), None) => vec![s],
        (Some(_), None) => return Err("\"text\" must be a string".into()),
        (None, Some(Value::Array(items))) => {
            let texts: Option<Vec<String>> = items
                .into_iter()
                .map(|v| {
                    if let Value::String(s) = v {
                        Some(s)
                    } else {
                        None
                    }
                })
                .collect();
            texts
                .filter(|t| !t.is_empty())
                .ok_or("\"texts\" must be a non-empty list of strings")?
        }
        (None, Some(_)) => return Err("\"texts\" must be a non-empty list of strings".into()),
        (None, None) => return Err("expected \"text\" or \"texts\"".into()),
    };
    let extra = match obj.remove("extra") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m),
        Some(_) => return Err("\"extra\" must be an object".into()),
    };
    Ok(Entry { texts, extra })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_text_texts_and_extra() {
        let entries =
            parse("{\"text\":\"a\"}\n\n{\"texts\":[\"b\",\"c\"],\"extra\":{\"dimensions\":64}}\n")
                .unwrap();
        assert_eq!(entries[0].texts, vec!["a"]);
        assert_eq!(entries[1].texts, vec!["b", "c"]);
        assert_eq!(entries[1].extra.as_ref().unwrap()["dimensions"], 64);
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("{\"text\":\"a\"}\n{oops", "2: invalid JSON"),
            ("[1]", "1: expected a JSON object"),
            ("{\"texts\":[]}", "1: \"texts\" must be"),
            ("{\"texts\":[1]}", "1: \"texts\" must be"),
            ("{\"text\":5}", "1: \"text\" must be a string"),
            ("{\"prompt\":\"x\"}", "1: expected \"text\" or \"texts\""),
            (
                "{\"text\":\"a\",\"extra\":3}",
                "1: \"extra\" must be an object",
            ),
        ];
        for (input, want) in cases {
            let err = parse(input).unwrap_err();
            assert!(err.starts_with(want), "{input:?}: {err}");
            assert!(!err.contains('\n'));
        }
    }
}
