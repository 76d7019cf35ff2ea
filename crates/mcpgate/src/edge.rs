//! The edge: everything between the network and a tool — Host/Origin checks, authentication
//! and the [`Principal`] every request resolves to, and the JSON error bodies the edge answers
//! with.

mod auth;
mod origin;
mod principal;
mod reject;

pub use auth::{AuthError, Authenticator, take_query_key};
pub use origin::{InvalidOrigin, OriginPattern, OriginPolicy, OriginRefusal};
pub use principal::{AuthVia, Principal, is_identifier};
pub use reject::reject;
