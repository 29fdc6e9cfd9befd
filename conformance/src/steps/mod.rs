//! Protocol steps the case groups share, one module per endpoint family. They build on
//! [`Ctx`](crate::case::Ctx) and know nothing of the catalogue, so every group can use them and no
//! group imports another.

pub mod config;
pub mod scan;
pub mod session;
