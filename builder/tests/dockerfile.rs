//! Tests of the Dockerfile parser through its public API: tables of
//! Dockerfile text and the instructions (or diagnostics) Docker would give.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

#[path = "dockerfile/common.rs"]
mod common;
#[path = "dockerfile/corpus.rs"]
mod corpus;
#[path = "dockerfile/errors.rs"]
mod errors;
#[path = "dockerfile/expansion.rs"]
mod expansion;
#[path = "dockerfile/ignore.rs"]
mod ignore;
#[path = "dockerfile/instructions.rs"]
mod instructions;
#[path = "dockerfile/robustness.rs"]
mod robustness;
#[path = "dockerfile/stages.rs"]
mod stages;
#[path = "dockerfile/syntax.rs"]
mod syntax;
