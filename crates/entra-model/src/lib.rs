//! What the product and its fake Graph server share: the serde models of the Graph objects,
//! the recorded-tenant directory format, input-file reading and the id rules.
//!
//! Nothing here speaks HTTP or builds tables; both sides depend on this crate, never on each
//! other.

pub mod enums;
pub mod error;
pub mod ids;
pub mod input;
pub mod model;
pub mod tenant_dir;

pub use error::InputError;
pub use input::read_json;
