//! # sluice-testkit: a real PostgreSQL database for every test
#![doc(test(attr(deny(warnings))))]
