//! Test support: a real authoritative upstream, a real `ward serve`
//! process, and a small DNS client built on hickory-proto's codec.

pub mod client;
pub mod collector;
pub mod https;
pub mod netns;
pub mod receiver;
pub mod upstream;
pub mod ward;
