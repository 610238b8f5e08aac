//! One module per subcommand: each owns its arguments and its `run`. The
//! demo and the evaluation have modules of their own (`crate::demo`,
//! `crate::eval`).

pub mod enqueue;
pub mod import;
pub mod jobs;
pub mod migrate;
pub mod org;
pub mod pause;
pub mod proof;
pub mod queue;
pub mod rate_limit;
pub mod serve;
pub mod token;
pub mod worker;
