//! # The guard's manual: rules, the attacks they stop, and what else protects you
//!
//! (Filled in below.)
