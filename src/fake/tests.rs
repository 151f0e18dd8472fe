//! In-process tests of the fake Graph server over real HTTPS.
