//! embperf: a low-overhead load generator for OpenAI-compatible embedding servers.
//!
//! The binary is a thin layer over this library: `profile::run` takes a validated
//! `config::RunConfig`, builds the dataset, drives the engine and writes the reports.

pub mod engine;
pub mod http;
pub mod mock;
pub mod net;
pub mod stats;

pub mod cli;
pub mod config;
pub mod dataset;
pub mod probe;
pub mod profile;
pub mod progress;
pub mod report;
