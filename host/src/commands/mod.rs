//! One module per verb. Each parses nothing itself (clap did) and calls into the library.

pub mod auth;
pub mod completions;
pub mod doctor;
pub mod env;
pub mod login;
pub mod plugin;
pub mod run;
pub mod scaffold;
