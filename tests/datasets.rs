//! Datasets over real runs: synthetic prompts with exact token counts, reproducible seeds,
//! batches, random pools and input-file errors.

mod support;

use std::path::{Path, PathBuf};

use embperf::dataset::TokenCounter;
use embperf::mock::{MockConfig, MockServer};
use support::*;

fn tokenizer_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/dataset/assets/bert-base-uncased-tokenizer.json")
}

fn texts(inputs: &serde_json::Value) -> Vec<Vec<String>> {
    inputs["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["payloads"][0]["input"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

/// The AIPerf guide's synthetic embeddings command, with `--tokenizer` pointing at a file; the
/// synthetic shape comes in `extra`.
fn synthetic(server: &MockServer, dir: &Path, extra: &[&str]) -> serde_json::Value {
    let tokenizer = tokenizer_path();
    let url = server.url();
    let mut args = vec![
        "--model",
        "BAAI/bge-small-en-v1.5",
        "--endpoint-type",
        "embeddings",
        "--endpoint",
        "/v1/embeddings",
        "--url",
        &url,
        "--request-count",
        "20",
        "--concurrency",
        "4",
        "--tokenizer",
        tokenizer.to_str().unwrap(),
        "--artifact-dir",
        "out",
    ];
    args.extend_from_slice(extra);
    let out = profile(dir, &args);
    assert_success(&out);
    export(&dir.join("out"))
}

#[test]
fn synthetic_texts_have_exactly_the_requested_token_counts() {
    let server = MockServer::start(MockConfig::default()).unwrap();
    let tokens = TokenCounter::from_file(&tokenizer_path()).unwrap();
    for (mean, stddev, seed, batch) in [
        ("100", "0", "1", "1"),
        ("550", "0", "2", "1"),
        ("64", "20", "3", "3"),
        ("3", "5", "4", "2"),
    ] {
        let dir = temp_dir("synthetic");
        let json = synthetic(
            &server,
            &dir,
            &[
                "--synthetic-input-tokens-mean",
                mean,
                "--synthetic-input-tokens-stddev",
                stddev,
                "--random-seed",
                seed,
                "-b",
                batch,
                "--num-dataset-entries",
                "30",
            ],
        );
        let inputs = read_json(&dir.join("out/inputs.json"));
        let all = texts(&inputs);
        assert_eq!(all.len(), 30);
        let mean: f64 = mean.parse().unwrap();
        let mut counts = Vec::new();
        for batch_texts in &all {
            assert_eq!(batch_texts.len(), batch.parse::<usize>().unwrap());
            for t in batch_texts {
                // What the server counts: the text plus [CLS] and [SEP].
                counts.push(tokens.count(t).unwrap() + tokens.special_tokens());
            }
        }
        if stddev == "0" {
            assert!(
                counts.iter().all(|&c| c as f64 == mean),
                "mean {mean}: {counts:?}"
            );
        } else {
            assert!(
                counts.iter().any(|&c| c as f64 != mean),
                "stddev {stddev} gave constant lengths"
            );
            assert!(
                counts.iter().all(|&c| c >= 3),
                "every text has at least one token"
            );
        }
        // ISL as AIPerf counts it: texts joined by a space, no special tokens.
        let isl = json["input_sequence_length"]["avg"].as_f64().unwrap();
        assert!(isl > 0.0);
        assert_eq!(
            json["run_info"]["tokenizer"],
            tokenizer_path().display().to_string()
        );
    }
}

#[test]
fn the_same_seed_gives_byte_identical_inputs() {
    let server = MockServer::start(MockConfig::default()).unwrap();
    let read = |seed: &str| {
        let dir = temp_dir("seed");
        synthetic(
            &server,
            &dir,
            &[
                "--synthetic-input-tokens-mean",
                "100",
                "--synthetic-input-tokens-stddev",
                "30",
                "--random-seed",
                seed,
            ],
        );
        std::fs::read(dir.join("out/inputs.json")).unwrap()
    };
    let (a, b, c) = (read("7"), read("7"), read("8"));
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn random_pools_sample_slots_with_replacement() {
    let server = MockServer::start(MockConfig::default()).unwrap();
    let dir = temp_dir("pool");
    std::fs::create_dir(dir.join("pools")).unwrap();
    std::fs::write(
        dir.join("pools/a.jsonl"),
        "{\"text\": \"alpha\"}\n{\"text\": \"beta\"}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("pools/b.jsonl"),
        "{\"texts\": [\"gamma\", \"delta\"]}\n",
    )
    .unwrap();
    let url = server.url();
    let out = profile_url(
        &dir,
        &url,
        &[
            "--input-file",
            "pools",
            "--custom-dataset-type",
            "random-pool",
            "-b",
            "3",
            "--num-dataset-entries",
            "40",
            "--request-count",
            "40",
        ],
    );
    assert_success(&out);
    let all = texts(&read_json(&dir.join("out/inputs.json")));
    assert_eq!(all.len(), 40);
    let pool = ["alpha", "beta", "gamma", "delta"];
    assert!(all
        .iter()
        .all(|b| b.len() == 3 && b.iter().all(|t| pool.contains(&t.as_str()))));
    assert!(
        all.iter()
            .any(|b| b[0] == b[1] || b[1] == b[2] || b[0] == b[2]),
        "sampling is with replacement"
    );
    for p in pool {
        assert!(all.iter().flatten().any(|t| t == p), "{p} never sampled");
    }
    let json = export(&dir.join("out"));
    assert_eq!(json["input_sequence_length"]["avg"], 3.0);
    assert!(
        (scalar(&json, "input_throughput") / scalar(&json, "request_throughput") - 3.0).abs()
            < 1e-9
    );
}

#[test]
fn extras_are_merged_into_every_body() {
    let server = MockServer::start(MockConfig::default()).unwrap();
    let dir = temp_dir("extras");
    std::fs::write(dir.join("in.jsonl"), "{\"text\": \"a\", \"extra\": {\"dimensions\": 8, \"user\": \"u1\"}}\n{\"texts\": [\"b\", \"c\"]}\n").unwrap();
    let url = server.url();
    let out = profile_url(
        &dir,
        &url,
        &[
            "--input-file",
            "in.jsonl",
            "--extra-inputs",
            "dimensions:16",
            "--extra-inputs",
            "encoding_format:float",
        ],
    );
    assert_success(&out);
    let inputs = read_json(&dir.join("out/inputs.json"));
    let first = &inputs["data"][0]["payloads"][0];
    assert_eq!(
        (
            first["dimensions"].as_u64(),
            first["user"].as_str(),
            first["encoding_format"].as_str()
        ),
        (Some(16), Some("u1"), Some("float"))
    );
    assert_eq!(
        inputs["data"][1]["payloads"][0]["input"],
        serde_json::json!(["b", "c"])
    );
}

#[test]
fn tokenizer_problems_are_one_line_errors() {
    let server = MockServer::start(MockConfig::default()).unwrap();
    let dir = temp_dir("tokenizer");
    let url = server.url();
    let out = profile(
        &dir,
        &[
            "-m",
            "m",
            "--url",
            &url,
            "--tokenizer",
            "/nonexistent/tokenizer.json",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("--tokenizer /nonexistent/tokenizer.json")
            && err.contains("--tokenizer builtin"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1);
    std::fs::write(dir.join("broken.json"), "{ not a tokenizer").unwrap();
    let out = profile(
        &dir,
        &["-m", "m", "--url", &url, "--tokenizer", "broken.json"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot load tokenizer broken.json"),
        "{}",
        stderr(&out)
    );
    // A tokenizer directory works offline.
    let tk_dir = dir.join("tk");
    std::fs::create_dir(&tk_dir).unwrap();
    std::fs::copy(tokenizer_path(), tk_dir.join("tokenizer.json")).unwrap();
    let out = embperf()
        .current_dir(&dir)
        .env("HF_HUB_OFFLINE", "1")
        .args([
            "profile",
            "-m",
            "m",
            "--url",
            &url,
            "--tokenizer",
            "tk",
            "--isl",
            "10",
            "--no-progress",
            "--artifact-dir",
            "out",
        ])
        .output()
        .unwrap();
    assert_success(&out);
    assert_eq!(
        export(&dir.join("out"))["input_sequence_length"]["avg"],
        8.0
    );
}
